// SPDX-License-Identifier: Apache-2.0
// rtlcnn: AXI4-Lite register file (build parameters, control, status, job configuration, counters)

`resetall
`timescale 1ns / 1ps
`default_nettype none

module rtlcnn_axil_regs #
(
    // Output-channel lanes of the MAC array (read-only register P_OC)
    parameter P_OC = 16,
    // Input-channel lanes of the MAC array (read-only register P_IC)
    parameter P_IC = 8,
    // Weight buffer depth in words
    parameter WBUF_DEPTH = 2048,
    // Input buffer depth in words
    parameter IBUF_DEPTH = 4096,
    // Parameter buffer entries
    parameter PBUF_DEPTH = 1024,
    // Clock hint in MHz
    parameter CLK_MHZ = 100,
    // Values per cycle through requant, pool and output packer (read-only register RQ_LANES)
    parameter RQ_LANES = 2,
    // On-chip feature buffer depth in beats (read-only register FBUF_DEPTH, version 1.5)
    parameter FBUF_DEPTH = 8192,
    // Address width of the AXI4-Lite window (4 KiB)
    parameter ADDR_WIDTH = 12
)
(
    input  wire                   clk,
    input  wire                   rst,

    // AXI4-Lite slave
    input  wire [ADDR_WIDTH-1:0]  s_axil_awaddr,
    /* verilator lint_off UNUSEDSIGNAL */  // protection is not checked
    input  wire [2:0]             s_axil_awprot,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire                   s_axil_awvalid,
    output wire                   s_axil_awready,
    input  wire [31:0]            s_axil_wdata,
    input  wire [3:0]             s_axil_wstrb,
    input  wire                   s_axil_wvalid,
    output wire                   s_axil_wready,
    output wire [1:0]             s_axil_bresp,
    output wire                   s_axil_bvalid,
    input  wire                   s_axil_bready,
    input  wire [ADDR_WIDTH-1:0]  s_axil_araddr,
    /* verilator lint_off UNUSEDSIGNAL */  // protection is not checked
    input  wire [2:0]             s_axil_arprot,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire                   s_axil_arvalid,
    output wire                   s_axil_arready,
    output wire [31:0]            s_axil_rdata,
    output wire [1:0]             s_axil_rresp,
    output wire                   s_axil_rvalid,
    input  wire                   s_axil_rready,

    // control pulses (one cycle)
    output wire                   ctrl_start,
    output wire                   ctrl_soft_reset,
    // CTRL bit 2 (version 1.5): run a command stream (one cycle)
    output wire                   ctrl_run_cmd,
    // a command header's configuration beat (version 1.5): cmd_idx 1..6 writes the two
    // registers at 0x080 + 8*(cmd_idx-1) (low word) and the next (high word)
    input  wire                   cmd_we,
    input  wire [2:0]             cmd_idx,
    input  wire [63:0]            cmd_data,

    // configuration (writes are ignored while busy)
    output wire [31:0]            cfg_op,
    output wire [31:0]            cfg_in_c,
    output wire [31:0]            cfg_in_h,
    output wire [31:0]            cfg_in_w,
    output wire [31:0]            cfg_out_c,
    output wire [31:0]            cfg_kernel,
    output wire [31:0]            cfg_stride,
    output wire [15:0]            cfg_pad,
    output wire [31:0]            cfg_wbase,
    output wire [31:0]            cfg_pbase,
    output wire [15:0]            cfg_act,
    output wire [31:0]            cfg_add_mult,

    // status and read-only values from the engine
    input  wire                   sts_busy,
    input  wire                   sts_done,
    input  wire [2:0]             sts_error,
    input  wire                   sts_draining,
    input  wire [4:0]             sts_config_err,
    input  wire                   sts_cmd,
    input  wire [15:0]            sts_job_index,
    input  wire [31:0]            sts_out_h,
    input  wire [31:0]            sts_out_w,
    input  wire [31:0]            sts_in_beats,
    input  wire [31:0]            sts_out_beats,
    input  wire [31:0]            sts_cyc_total,
    input  wire [31:0]            sts_cyc_mac,
    input  wire [31:0]            sts_cyc_in_stall,
    input  wire [31:0]            sts_cyc_out_stall
);

initial begin
    if (ADDR_WIDTH < 8) begin
        $error("Error: rtlcnn_axil_regs ADDR_WIDTH must be >= 8 (instance %m)");
        $finish;
    end
end

// register map and stream format version (rtlcnn.core.regs VERSION_MAJOR / VERSION_MINOR;
// minor 1: KERNEL's KW field and OP.PAIR, minor 2: the RQ_LANES register, minor 3: ACT,
// minor 4: the ADD opcode, OP's ADD_K field and ADD_MULT, minor 5: command streams, CTRL's
// RUN_STREAM bit, STATUS.CMD and JOB_INDEX, minor 6: IN_TAPS command jobs, CONFIG_ERR 16)
localparam [31:0] ID_VALUE = 32'h52434E4E;
localparam [15:0] VERSION_MAJOR = 16'd1;
localparam [15:0] VERSION_MINOR = 16'd6;
localparam [31:0] VERSION_VALUE = {VERSION_MAJOR, VERSION_MINOR};

// AXI4-Lite handshakes (AXI: BVALID only after both the AW and the W handshake, RVALID only
// after the AR handshake). A write: when AWVALID and WVALID are both high and no write
// response waits, AWREADY and WREADY rise together for one cycle; that cycle is the
// handshake of both, the register is written, and BVALID rises in the next cycle. A read:
// ARREADY rises for one cycle (the data are taken then), RVALID in the next. One access of
// each kind in flight, one every two cycles at most.
reg s_axil_wr_ready_reg = 1'b0, s_axil_wr_ready_next;  // AWREADY and WREADY
reg s_axil_bvalid_reg = 1'b0, s_axil_bvalid_next;
reg s_axil_arready_reg = 1'b0, s_axil_arready_next;
reg [31:0] s_axil_rdata_reg = 32'd0, s_axil_rdata_next;
reg s_axil_rvalid_reg = 1'b0, s_axil_rvalid_next;

// reads wait this many cycles after a write, so the derived registers have settled
localparam [2:0] SETTLE_CYCLES = 3'd7;
reg [2:0] settle_reg = 3'd0, settle_next;

reg ctrl_start_reg = 1'b0, ctrl_start_next;
reg ctrl_soft_reset_reg = 1'b0, ctrl_soft_reset_next;
reg ctrl_run_cmd_reg = 1'b0, ctrl_run_cmd_next;

reg [31:0] op_reg = 32'd0, op_next;
reg [31:0] in_c_reg = 32'd0, in_c_next;
reg [31:0] in_h_reg = 32'd0, in_h_next;
reg [31:0] in_w_reg = 32'd0, in_w_next;
reg [31:0] out_c_reg = 32'd0, out_c_next;
reg [31:0] kernel_reg = 32'd0, kernel_next;
reg [31:0] stride_reg = 32'd0, stride_next;
reg [15:0] pad_reg = 16'd0, pad_next;
reg [31:0] wbase_reg = 32'd0, wbase_next;
reg [31:0] pbase_reg = 32'd0, pbase_next;
// ACT: [7:0] act_min, [15:8] act_max; after reset and SOFT_RESET -128 and 127 (no bounds)
localparam [15:0] ACT_RESET = 16'h7F80;
reg [15:0] act_reg = ACT_RESET, act_next;
// ADD_MULT (version 1.4): the ADD op's multipliers, [15:0] Ma, [31:16] Mb (unsigned)
reg [31:0] add_mult_reg = 32'd0, add_mult_next;

// byte-lane merge of a write into a register
function [31:0] merge;
    input [31:0] old;
    input [31:0] data;
    input [3:0] strb;
    integer b;
    begin
        for (b = 0; b < 4; b = b + 1) begin
            merge[8*b +: 8] = strb[b] ? data[8*b +: 8] : old[8*b +: 8];
        end
    end
endfunction

/* verilator lint_off UNUSEDSIGNAL */  // byte-in-word address bits, PAD[31:16] and ACT[31:16] are ignored
wire [ADDR_WIDTH-1:0] wr_addr = s_axil_awaddr;
wire [ADDR_WIDTH-1:0] rd_addr = s_axil_araddr;
wire wr_cfg_ok = !sts_busy;
wire [31:0] pad_merged = merge({16'd0, pad_reg}, s_axil_wdata, s_axil_wstrb);
wire [31:0] act_merged = merge({16'd0, act_reg}, s_axil_wdata, s_axil_wstrb);
/* verilator lint_on UNUSEDSIGNAL */

wire wr_handshake = s_axil_wr_ready_reg && s_axil_awvalid && s_axil_wvalid;
wire rd_handshake = s_axil_arready_reg && s_axil_arvalid;

assign s_axil_awready = s_axil_wr_ready_reg;
assign s_axil_wready = s_axil_wr_ready_reg;
assign s_axil_bresp = 2'b00;
assign s_axil_bvalid = s_axil_bvalid_reg;
assign s_axil_arready = s_axil_arready_reg;
assign s_axil_rdata = s_axil_rdata_reg;
assign s_axil_rresp = 2'b00;
assign s_axil_rvalid = s_axil_rvalid_reg;

assign ctrl_start = ctrl_start_reg;
assign ctrl_soft_reset = ctrl_soft_reset_reg;
assign ctrl_run_cmd = ctrl_run_cmd_reg;

assign cfg_op = op_reg;
assign cfg_in_c = in_c_reg;
assign cfg_in_h = in_h_reg;
assign cfg_in_w = in_w_reg;
assign cfg_out_c = out_c_reg;
assign cfg_kernel = kernel_reg;
assign cfg_stride = stride_reg;
assign cfg_pad = pad_reg;
assign cfg_wbase = wbase_reg;
assign cfg_pbase = pbase_reg;
assign cfg_act = act_reg;
assign cfg_add_mult = add_mult_reg;

always @* begin
    s_axil_wr_ready_next = 1'b0;
    s_axil_bvalid_next = s_axil_bvalid_reg && !s_axil_bready;
    s_axil_arready_next = 1'b0;
    s_axil_rdata_next = s_axil_rdata_reg;
    s_axil_rvalid_next = s_axil_rvalid_reg && !s_axil_rready;

    ctrl_start_next = 1'b0;
    ctrl_soft_reset_next = 1'b0;
    ctrl_run_cmd_next = 1'b0;
    settle_next = settle_reg == 3'd0 ? 3'd0 : settle_reg - 3'd1;

    op_next = op_reg;
    in_c_next = in_c_reg;
    in_h_next = in_h_reg;
    in_w_next = in_w_reg;
    out_c_next = out_c_reg;
    kernel_next = kernel_reg;
    stride_next = stride_reg;
    pad_next = pad_reg;
    wbase_next = wbase_reg;
    pbase_next = pbase_reg;
    act_next = act_reg;
    add_mult_next = add_mult_reg;

    // a write waiting, and the write response (if any) taken this cycle: ready next cycle
    if (s_axil_awvalid && s_axil_wvalid && (!s_axil_bvalid_reg || s_axil_bready)
            && !s_axil_wr_ready_reg) begin
        s_axil_wr_ready_next = 1'b1;
    end

    // the write handshake: write the register, respond next cycle
    if (wr_handshake) begin
        s_axil_bvalid_next = 1'b1;
        settle_next = SETTLE_CYCLES;
        case ({wr_addr[ADDR_WIDTH-1:2], 2'b00})
            12'h040: begin
                if (s_axil_wstrb[0]) begin
                    ctrl_soft_reset_next = s_axil_wdata[1];
                    ctrl_start_next = s_axil_wdata[0] && !s_axil_wdata[1] && !s_axil_wdata[2];
                    ctrl_run_cmd_next = s_axil_wdata[2] && !s_axil_wdata[1] && !s_axil_wdata[0];
                end
            end
            12'h080: if (wr_cfg_ok) op_next = merge(op_reg, s_axil_wdata, s_axil_wstrb);
            12'h084: if (wr_cfg_ok) in_c_next = merge(in_c_reg, s_axil_wdata, s_axil_wstrb);
            12'h088: if (wr_cfg_ok) in_h_next = merge(in_h_reg, s_axil_wdata, s_axil_wstrb);
            12'h08C: if (wr_cfg_ok) in_w_next = merge(in_w_reg, s_axil_wdata, s_axil_wstrb);
            12'h090: if (wr_cfg_ok) out_c_next = merge(out_c_reg, s_axil_wdata, s_axil_wstrb);
            12'h094: if (wr_cfg_ok) kernel_next = merge(kernel_reg, s_axil_wdata, s_axil_wstrb);
            12'h098: if (wr_cfg_ok) stride_next = merge(stride_reg, s_axil_wdata, s_axil_wstrb);
            12'h09C: if (wr_cfg_ok) pad_next = pad_merged[15:0];
            12'h0A0: if (wr_cfg_ok) wbase_next = merge(wbase_reg, s_axil_wdata, s_axil_wstrb);
            12'h0A4: if (wr_cfg_ok) pbase_next = merge(pbase_reg, s_axil_wdata, s_axil_wstrb);
            12'h0A8: if (wr_cfg_ok) act_next = act_merged[15:0];
            12'h0AC: if (wr_cfg_ok) add_mult_next = merge(add_mult_reg, s_axil_wdata, s_axil_wstrb);
            default: begin
                // read-only or unmapped: ignored, OKAY response
            end
        endcase
    end

    // a command header's configuration beat (the engine is busy: no AXI write lands then)
    if (cmd_we) begin
        case (cmd_idx)
            3'd1: begin op_next = cmd_data[31:0]; in_c_next = cmd_data[63:32]; end
            3'd2: begin in_h_next = cmd_data[31:0]; in_w_next = cmd_data[63:32]; end
            3'd3: begin out_c_next = cmd_data[31:0]; kernel_next = cmd_data[63:32]; end
            3'd4: begin stride_next = cmd_data[31:0]; pad_next = cmd_data[47:32]; end
            3'd5: begin wbase_next = cmd_data[31:0]; pbase_next = cmd_data[63:32]; end
            3'd6: begin act_next = cmd_data[15:0]; add_mult_next = cmd_data[63:32]; end
            default: begin
            end
        endcase
    end
    // the read handshake: the data (taken in the cycle before) are offered next cycle
    if (rd_handshake) begin
        s_axil_rvalid_next = 1'b1;
    end

    // a read waiting, the read response (if any) taken this cycle and no write settling:
    // take the data and be ready next cycle
    if (s_axil_arvalid && (!s_axil_rvalid_reg || s_axil_rready) && !s_axil_arready_reg && settle_reg == 3'd0) begin
        s_axil_arready_next = 1'b1;
        case ({rd_addr[ADDR_WIDTH-1:2], 2'b00})
            12'h000: s_axil_rdata_next = ID_VALUE;
            12'h004: s_axil_rdata_next = VERSION_VALUE;
            12'h008: s_axil_rdata_next = P_OC;
            12'h00C: s_axil_rdata_next = P_IC;
            12'h010: s_axil_rdata_next = WBUF_DEPTH;
            12'h014: s_axil_rdata_next = IBUF_DEPTH;
            12'h018: s_axil_rdata_next = PBUF_DEPTH;
            12'h01C: s_axil_rdata_next = CLK_MHZ;
            12'h020: s_axil_rdata_next = 32'd7;
            12'h024: s_axil_rdata_next = 32'd8;
            12'h028: s_axil_rdata_next = RQ_LANES;
            12'h02C: s_axil_rdata_next = FBUF_DEPTH;
            12'h044: s_axil_rdata_next = {27'd0, sts_cmd, sts_draining, sts_error != 3'd0, sts_done, sts_busy};
            12'h048: s_axil_rdata_next = {29'd0, sts_error};
            12'h04C: s_axil_rdata_next = {27'd0, sts_config_err};
            12'h050: s_axil_rdata_next = {16'd0, sts_job_index};
            12'h080: s_axil_rdata_next = op_reg;
            12'h084: s_axil_rdata_next = in_c_reg;
            12'h088: s_axil_rdata_next = in_h_reg;
            12'h08C: s_axil_rdata_next = in_w_reg;
            12'h090: s_axil_rdata_next = out_c_reg;
            12'h094: s_axil_rdata_next = kernel_reg;
            12'h098: s_axil_rdata_next = stride_reg;
            12'h09C: s_axil_rdata_next = {16'd0, pad_reg};
            12'h0A0: s_axil_rdata_next = wbase_reg;
            12'h0A4: s_axil_rdata_next = pbase_reg;
            12'h0A8: s_axil_rdata_next = {16'd0, act_reg};
            12'h0AC: s_axil_rdata_next = add_mult_reg;
            12'h0B0: s_axil_rdata_next = sts_out_h;
            12'h0B4: s_axil_rdata_next = sts_out_w;
            12'h0B8: s_axil_rdata_next = sts_in_beats;
            12'h0BC: s_axil_rdata_next = sts_out_beats;
            12'h0C0: s_axil_rdata_next = sts_cyc_total;
            12'h0C4: s_axil_rdata_next = sts_cyc_mac;
            12'h0C8: s_axil_rdata_next = sts_cyc_in_stall;
            12'h0CC: s_axil_rdata_next = sts_cyc_out_stall;
            default: s_axil_rdata_next = 32'd0;
        endcase
    end
end

always @(posedge clk) begin
    s_axil_wr_ready_reg <= s_axil_wr_ready_next;
    s_axil_bvalid_reg <= s_axil_bvalid_next;
    s_axil_arready_reg <= s_axil_arready_next;
    s_axil_rdata_reg <= s_axil_rdata_next;
    s_axil_rvalid_reg <= s_axil_rvalid_next;

    ctrl_start_reg <= ctrl_start_next;
    ctrl_soft_reset_reg <= ctrl_soft_reset_next;
    ctrl_run_cmd_reg <= ctrl_run_cmd_next;
    settle_reg <= settle_next;

    op_reg <= op_next;
    in_c_reg <= in_c_next;
    in_h_reg <= in_h_next;
    in_w_reg <= in_w_next;
    out_c_reg <= out_c_next;
    kernel_reg <= kernel_next;
    stride_reg <= stride_next;
    pad_reg <= pad_next;
    wbase_reg <= wbase_next;
    pbase_reg <= pbase_next;
    act_reg <= ctrl_soft_reset_reg ? ACT_RESET : act_next;
    add_mult_reg <= add_mult_next;

    if (rst) begin
        s_axil_wr_ready_reg <= 1'b0;
        s_axil_bvalid_reg <= 1'b0;
        s_axil_arready_reg <= 1'b0;
        s_axil_rvalid_reg <= 1'b0;
        ctrl_start_reg <= 1'b0;
        ctrl_soft_reset_reg <= 1'b0;
        ctrl_run_cmd_reg <= 1'b0;
        settle_reg <= 3'd0;
        op_reg <= 32'd0;
        in_c_reg <= 32'd0;
        in_h_reg <= 32'd0;
        in_w_reg <= 32'd0;
        out_c_reg <= 32'd0;
        kernel_reg <= 32'd0;
        stride_reg <= 32'd0;
        pad_reg <= 16'd0;
        wbase_reg <= 32'd0;
        pbase_reg <= 32'd0;
        act_reg <= ACT_RESET;
        add_mult_reg <= 32'd0;
    end
end

endmodule

`resetall
