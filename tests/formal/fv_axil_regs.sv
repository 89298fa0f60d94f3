// SPDX-License-Identifier: Apache-2.0
// rtlcnn formal: the AXI4-Lite register file (rtlcnn_axil_regs) under axil_slave_props
//
// Every input is free: the AXI4-Lite master only within the rules axil_slave_props
// assumes, the engine's status inputs without any rule. See docs/formal.md.

`default_nettype none

module fv_axil_regs #
(
    parameter P_OC = 4,
    parameter P_IC = 4,
    parameter WBUF_DEPTH = 512,
    parameter IBUF_DEPTH = 1024,
    parameter PBUF_DEPTH = 128,
    parameter CLK_MHZ = 100,
    parameter RQ_LANES = 2
)
(
    input wire        clk,
    input wire        rst,

    input wire [11:0] s_axil_awaddr,
    input wire [2:0]  s_axil_awprot,
    input wire        s_axil_awvalid,
    input wire [31:0] s_axil_wdata,
    input wire [3:0]  s_axil_wstrb,
    input wire        s_axil_wvalid,
    input wire        s_axil_bready,
    input wire [11:0] s_axil_araddr,
    input wire [2:0]  s_axil_arprot,
    input wire        s_axil_arvalid,
    input wire        s_axil_rready,

    input wire        sts_busy,
    input wire        sts_done,
    input wire [2:0]  sts_error,
    input wire        sts_draining,
    input wire [4:0]  sts_config_err,
    input wire [31:0] sts_out_h,
    input wire [31:0] sts_out_w,
    input wire [31:0] sts_in_beats,
    input wire [31:0] sts_out_beats,
    input wire [31:0] sts_cyc_total,
    input wire [31:0] sts_cyc_mac,
    input wire [31:0] sts_cyc_in_stall,
    input wire [31:0] sts_cyc_out_stall
);

wire s_axil_awready, s_axil_wready, s_axil_bvalid, s_axil_arready, s_axil_rvalid;
wire [1:0] s_axil_bresp, s_axil_rresp;
wire [31:0] s_axil_rdata;
wire ctrl_start, ctrl_soft_reset, ctrl_run_cmd;
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] cfg_op, cfg_in_c, cfg_in_h, cfg_in_w, cfg_out_c, cfg_kernel, cfg_stride;
wire [15:0] cfg_pad;
wire [31:0] cfg_wbase, cfg_pbase;
/* verilator lint_on UNUSEDSIGNAL */

rtlcnn_axil_regs #(
    .P_OC(P_OC), .P_IC(P_IC), .WBUF_DEPTH(WBUF_DEPTH), .IBUF_DEPTH(IBUF_DEPTH),
    .PBUF_DEPTH(PBUF_DEPTH), .CLK_MHZ(CLK_MHZ), .RQ_LANES(RQ_LANES), .ADDR_WIDTH(12)
) dut (
    .clk(clk), .rst(rst),
    .s_axil_awaddr(s_axil_awaddr), .s_axil_awprot(s_axil_awprot),
    .s_axil_awvalid(s_axil_awvalid), .s_axil_awready(s_axil_awready),
    .s_axil_wdata(s_axil_wdata), .s_axil_wstrb(s_axil_wstrb),
    .s_axil_wvalid(s_axil_wvalid), .s_axil_wready(s_axil_wready),
    .s_axil_bresp(s_axil_bresp), .s_axil_bvalid(s_axil_bvalid), .s_axil_bready(s_axil_bready),
    .s_axil_araddr(s_axil_araddr), .s_axil_arprot(s_axil_arprot),
    .s_axil_arvalid(s_axil_arvalid), .s_axil_arready(s_axil_arready),
    .s_axil_rdata(s_axil_rdata), .s_axil_rresp(s_axil_rresp),
    .s_axil_rvalid(s_axil_rvalid), .s_axil_rready(s_axil_rready),
    .ctrl_start(ctrl_start), .ctrl_soft_reset(ctrl_soft_reset), .ctrl_run_cmd(ctrl_run_cmd),
    // command header writes (version 1.5) come from the engine only while it is busy, when
    // the AXI writes to the configuration are ignored; the AXI properties hold without them
    .cmd_we(1'b0), .cmd_idx(3'd0), .cmd_data(64'd0), .sts_cmd(1'b0), .sts_job_index(16'd0),
    .cfg_op(cfg_op), .cfg_in_c(cfg_in_c), .cfg_in_h(cfg_in_h), .cfg_in_w(cfg_in_w),
    .cfg_out_c(cfg_out_c), .cfg_kernel(cfg_kernel), .cfg_stride(cfg_stride), .cfg_pad(cfg_pad),
    .cfg_wbase(cfg_wbase), .cfg_pbase(cfg_pbase),
    .sts_busy(sts_busy), .sts_done(sts_done), .sts_error(sts_error),
    .sts_draining(sts_draining), .sts_config_err(sts_config_err),
    .sts_out_h(sts_out_h), .sts_out_w(sts_out_w), .sts_in_beats(sts_in_beats),
    .sts_out_beats(sts_out_beats), .sts_cyc_total(sts_cyc_total), .sts_cyc_mac(sts_cyc_mac),
    .sts_cyc_in_stall(sts_cyc_in_stall), .sts_cyc_out_stall(sts_cyc_out_stall)
);

axil_slave_props #(.ADDR_WIDTH(12), .MAX_WAIT(12), .RST_LATENCY(1), .MIN_RESET(1)) props (
    .clk(clk), .rst(rst),
    .awaddr(s_axil_awaddr), .awprot(s_axil_awprot), .awvalid(s_axil_awvalid), .awready(s_axil_awready),
    .wdata(s_axil_wdata), .wstrb(s_axil_wstrb), .wvalid(s_axil_wvalid), .wready(s_axil_wready),
    .bresp(s_axil_bresp), .bvalid(s_axil_bvalid), .bready(s_axil_bready),
    .araddr(s_axil_araddr), .arprot(s_axil_arprot), .arvalid(s_axil_arvalid), .arready(s_axil_arready),
    .rdata(s_axil_rdata), .rresp(s_axil_rresp), .rvalid(s_axil_rvalid), .rready(s_axil_rready)
);

// the register file takes a write's address and data together (the engine's CTRL decode
// relies on it), and the control pulses come from the writes only
reg f_past_valid = 1'b0;
reg f_wr_start = 1'b0, f_wr_soft = 1'b0, f_wr_run = 1'b0;
wire wr_hs = s_axil_awvalid && s_axil_awready;
wire wr_ctrl = wr_hs && {s_axil_awaddr[11:2], 2'b00} == 12'h040 && s_axil_wstrb[0];
always @(posedge clk) begin
    f_past_valid <= 1'b1;
    f_wr_start <= !rst && wr_ctrl && s_axil_wdata[0] && !s_axil_wdata[1] && !s_axil_wdata[2];
    f_wr_run <= !rst && wr_ctrl && s_axil_wdata[2] && !s_axil_wdata[1] && !s_axil_wdata[0];
    f_wr_soft <= !rst && wr_ctrl && s_axil_wdata[1];
end
always @* begin
    if (!rst) begin
        aw_with_w: assert (s_axil_awready == s_axil_wready);
    end
    if (f_past_valid && !rst) begin
        start_from_ctrl_write: assert (ctrl_start == f_wr_start);
        soft_reset_from_ctrl_write: assert (ctrl_soft_reset == f_wr_soft);
        run_stream_from_ctrl_write: assert (ctrl_run_cmd == f_wr_run);
    end
    if (!rst) begin
        cover_start: cover (ctrl_start);
        // ID read back
        cover_read_id: cover (s_axil_rvalid && s_axil_rready && s_axil_rdata == 32'h52434E4E);
    end
end

endmodule

`default_nettype wire
