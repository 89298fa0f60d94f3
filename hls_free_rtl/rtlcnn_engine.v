// SPDX-License-Identifier: Apache-2.0
// rtlcnn: the layer engine core: registers, stream input, buffers, MAC array, requant, pooling, stream output

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * See docs/engine.md. One job at a time: START checks the configuration; the input
 * stream's sections P (parameters), W (weights) and I (feature map) are written into
 * the on-chip buffers at one beat per cycle; MAC steps start when P and W are in and
 * each step waits only for the input row it reads; accumulators go through a shadow
 * register to the requant (RQ_LANES values a cycle), the pool and the output packer.
 * ADD jobs (version 1.4) take their two operands into the two halves of the input
 * buffer and run them through rtlcnn_add (P_IC values a cycle) to the output packer.
 * Command streams (version 1.5): CTRL.RUN_STREAM makes the engine read each job's
 * configuration from a header of HDR_BEATS beats at the start of its part of the input
 * stream, run the job, and go on with the next header until a job whose header has
 * FLAGS.LAST: one input and one output packet (TLAST at their ends) carry the whole
 * sequence. JOB_INDEX counts the jobs. An error in a command stream ends the output
 * packet with TLAST and drains the input to its TLAST, so both DMA channels finish.
 * A command job may take its input map (an ADD's operands) from the on-chip feature
 * buffer and send its output there instead of m_axis (header FLAGS IN_FBUF, B_FBUF,
 * OUT_FBUF), so activations stay on chip between layers. The stream ends with an END
 * beat after the LAST job, the only input beat with TLAST. An IN_TAPS job (version 1.6,
 * builds with P_IC = 8) builds its I section from a source map in the feature buffer
 * (rtlcnn_taps: the kx or pair layout's taps, one source pixel a cycle).
 */
module rtlcnn_engine #
(
    // Output-channel lanes of the MAC array (power of two)
    parameter P_OC = 16,
    // Input-channel lanes of the MAC array: 1, 2, 4 or 8
    parameter P_IC = 8,
    // Weight buffer depth in words of P_OC*P_IC int8
    parameter WBUF_DEPTH = 2048,
    // Input buffer depth in words of P_IC int8
    parameter IBUF_DEPTH = 4096,
    // Parameter buffer entries (one per output channel)
    parameter PBUF_DEPTH = 1024,
    // Clock hint in MHz (register CLK_MHZ)
    parameter CLK_MHZ = 100,
    // Values per cycle through requant, pool and output packer: 1 or 2 (1 when P_OC = 1)
    parameter RQ_LANES = 2,
    // On-chip feature buffer depth in 64-bit beats (a power of two, 16 .. 65536; version 1.5)
    parameter FBUF_DEPTH = 8192,
    // AXI4-Lite address width
    parameter AXIL_ADDR_WIDTH = 12
)
(
    input  wire                         clk,
    input  wire                         rst,

    input  wire [AXIL_ADDR_WIDTH-1:0]   s_axil_awaddr,
    input  wire [2:0]                   s_axil_awprot,
    input  wire                         s_axil_awvalid,
    output wire                         s_axil_awready,
    input  wire [31:0]                  s_axil_wdata,
    input  wire [3:0]                   s_axil_wstrb,
    input  wire                         s_axil_wvalid,
    output wire                         s_axil_wready,
    output wire [1:0]                   s_axil_bresp,
    output wire                         s_axil_bvalid,
    input  wire                         s_axil_bready,
    input  wire [AXIL_ADDR_WIDTH-1:0]   s_axil_araddr,
    input  wire [2:0]                   s_axil_arprot,
    input  wire                         s_axil_arvalid,
    output wire                         s_axil_arready,
    output wire [31:0]                  s_axil_rdata,
    output wire [1:0]                   s_axil_rresp,
    output wire                         s_axil_rvalid,
    input  wire                         s_axil_rready,

    input  wire [63:0]                  s_axis_tdata,
    /* verilator lint_off UNUSEDSIGNAL */  // tkeep is all ones by the stream format; ignored
    input  wire [7:0]                   s_axis_tkeep,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire                         s_axis_tvalid,
    output wire                         s_axis_tready,
    input  wire                         s_axis_tlast,

    output wire [63:0]                  m_axis_tdata,
    output wire [7:0]                   m_axis_tkeep,
    output wire                         m_axis_tvalid,
    input  wire                         m_axis_tready,
    output wire                         m_axis_tlast
);

localparam LOG_POC = $clog2(P_OC);
localparam LOG_PIC = $clog2(P_IC);
// input-buffer words per 64-bit beat, beats per weight word, weight banks per beat
localparam NB = 8 / P_IC;
localparam LOG_NB = $clog2(NB);
localparam SEL_WIDTH = LOG_NB > 0 ? LOG_NB : 1;
localparam WORD_BEATS = P_OC * P_IC / 8;
localparam BANKS_PER_BEAT = 8 / P_IC;
localparam IROWS = IBUF_DEPTH / NB;
localparam IA_WIDTH = $clog2(IBUF_DEPTH);
localparam IR_WIDTH = $clog2(IROWS);
localparam WA_WIDTH = $clog2(WBUF_DEPTH);
localparam PA_WIDTH = $clog2(PBUF_DEPTH);
localparam NV_WIDTH = LOG_POC + 1;
localparam LANE_WIDTH = P_OC > 1 ? LOG_POC : 1;
localparam TAG_WIDTH = 1 + 2 + NV_WIDTH + PA_WIDTH;
localparam CHECK_WAIT = 4'd8;
// CONFIG_ERR of a bad command header (version 1.5)
localparam [4:0] CFG_HEADER = 5'd14;
// the tap builder (IN_TAPS command jobs, version 1.6): builds with P_IC = 8 only
localparam TAPS = P_IC == 8;
localparam RQ = RQ_LANES > P_OC ? P_OC : RQ_LANES;
/* verilator lint_off WIDTH */  // sized copies of small parameters for the comparisons below
localparam [16:0] P_IC_M1 = P_IC - 1;
localparam [16:0] P_OC_M1 = P_OC - 1;
localparam [48:0] IBUF_DEPTH_49 = IBUF_DEPTH;
localparam [39:0] WBUF_DEPTH_40 = WBUF_DEPTH;
/* verilator lint_on WIDTH */

initial begin
    if (P_IC != 1 && P_IC != 2 && P_IC != 4 && P_IC != 8) begin
        $error("Error: P_IC must be 1, 2, 4 or 8 (instance %m)");
        $finish;
    end
    if (P_OC < 1 || P_OC > 64 || (1 << LOG_POC) != P_OC) begin
        $error("Error: P_OC must be a power of two, 1..64 (instance %m)");
        $finish;
    end
    if ((P_OC * P_IC) % 8 != 0) begin
        $error("Error: P_OC * P_IC must be a multiple of 8 (instance %m)");
        $finish;
    end
    if (WBUF_DEPTH < 2 || WBUF_DEPTH > 32768 || IBUF_DEPTH < 16 || IBUF_DEPTH > 32768
            || PBUF_DEPTH < 2 || PBUF_DEPTH > 32768) begin
        $error("Error: buffer depths must be 2 (IBUF: 16) .. 32768 (instance %m)");
        $finish;
    end
    if (RQ_LANES != 1 && RQ_LANES != 2) begin
        $error("Error: RQ_LANES must be 1 or 2 (instance %m)");
        $finish;
    end
    if (FBUF_DEPTH < 16 || FBUF_DEPTH > 65536 || (1 << $clog2(FBUF_DEPTH)) != FBUF_DEPTH) begin
        $error("Error: FBUF_DEPTH must be a power of two, 16 .. 65536 (instance %m)");
        $finish;
    end
    if ((IBUF_DEPTH % NB) != 0 || (1 << $clog2(IBUF_DEPTH)) != IBUF_DEPTH) begin
        $error("Error: IBUF_DEPTH must be a power of two (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------------------------------
// register file
// ---------------------------------------------------------------------------------------
wire ctrl_start, ctrl_soft_reset, ctrl_run_cmd;
/* verilator lint_off UNUSEDSIGNAL */  // OP[31:10] are reserved
wire [31:0] cfg_op, cfg_in_c, cfg_in_h, cfg_in_w, cfg_out_c, cfg_kernel, cfg_stride, cfg_wbase, cfg_pbase;
wire [15:0] cfg_pad, cfg_act;
wire [31:0] cfg_add_mult;
/* verilator lint_on UNUSEDSIGNAL */

localparam [1:0] STATE_IDLE = 2'd0, STATE_CHECK = 2'd1, STATE_RUN = 2'd2, STATE_HDR = 2'd3;
reg [1:0] state_reg = STATE_IDLE, state_next;
reg done_reg = 1'b0, done_next;
reg [2:0] error_reg = 3'd0, error_next;
reg [4:0] config_err_reg = 5'd0, config_err_next;
reg [3:0] wait_reg = 4'd0, wait_next;
reg out_done_reg = 1'b0, out_done_next;
// command streams (version 1.5): the job came from a command stream; it is the stream's
// last (its header's FLAGS.LAST); header beat counter; the job's index in the stream; after
// an error, input beats are dropped until TLAST
localparam [31:0] CMD_MAGIC = 32'h444D4352;  // ASCII "RCMD", little endian
localparam [31:0] END_MAGIC = 32'h444E4552;  // ASCII "REND": the stream's end
localparam [2:0] HDR_LAST_BEAT = 3'd7;
localparam FA_WIDTH = $clog2(FBUF_DEPTH);
/* verilator lint_off WIDTH */
localparam [32:0] FBUF_DEPTH_33 = FBUF_DEPTH;
/* verilator lint_on WIDTH */
// the current command job's FLAGS (IN_FBUF, B_FBUF, OUT_FBUF) and feature buffer bases
reg fl_in_reg = 1'b0, fl_in_next;
reg fl_b_reg = 1'b0, fl_b_next;
reg fl_out_reg = 1'b0, fl_out_next;
// IN_TAPS (version 1.6): FLAGS bit 4 and its fields TAP_C, TAP_T, TAP_PAD, TAP_STEP2, and
// SRC_W (header word 15 [31:16])
reg fl_taps_reg = 1'b0, fl_taps_next;
reg [3:0] tap_c_reg = 4'd0, tap_c_next, tap_t_reg = 4'd0, tap_t_next, tap_pad_reg = 4'd0, tap_pad_next;
reg tap_s2_reg = 1'b0, tap_s2_next;
reg [15:0] src_w_reg = 16'd0, src_w_next;
reg [15:0] in_base_reg = 16'd0, in_base_next, b_base_reg = 16'd0, b_base_next, out_base_reg = 16'd0, out_base_next;
// the LAST job is done: the next input beat must be END, with TLAST
reg end_expect_reg = 1'b0, end_expect_next;
// an error in this command stream: the output (the final beat with TLAST) goes to m_axis
reg cmd_err_reg = 1'b0, cmd_err_next;
reg cmd_mode_reg = 1'b0, cmd_mode_next;
reg cmd_last_reg = 1'b0, cmd_last_next;
reg [2:0] hdr_cnt_reg = 3'd0, hdr_cnt_next;
reg [15:0] job_index_reg = 16'd0, job_index_next;
reg cmd_drain_reg = 1'b0, cmd_drain_next;
reg cmd_abort;  // end the output packet now (an error in a command stream outside RUN)
reg [31:0] cyc_total_reg = 32'd0, cyc_mac_reg = 32'd0, cyc_in_stall_reg = 32'd0, cyc_out_stall_reg = 32'd0;

localparam [2:0] IN_IDLE = 3'd0, IN_P = 3'd1, IN_W = 3'd2, IN_I = 3'd3, IN_DONE = 3'd4, IN_DRAIN = 3'd5;
reg [2:0] in_state_reg = IN_IDLE, in_state_next;

// derived values (registered pipeline, a few cycles behind the registers)
reg [31:0] d_out_h_reg = 32'd0, d_out_w_reg = 32'd0, d_in_beats_reg = 32'd0, d_out_beats_reg = 32'd0;

rtlcnn_axil_regs #(
    .P_OC(P_OC),
    .P_IC(P_IC),
    .WBUF_DEPTH(WBUF_DEPTH),
    .IBUF_DEPTH(IBUF_DEPTH),
    .PBUF_DEPTH(PBUF_DEPTH),
    .CLK_MHZ(CLK_MHZ),
    .RQ_LANES(RQ),
    .FBUF_DEPTH(FBUF_DEPTH),
    .ADDR_WIDTH(AXIL_ADDR_WIDTH)
)
regs_inst (
    .clk(clk),
    .rst(rst),
    .s_axil_awaddr(s_axil_awaddr),
    .s_axil_awprot(s_axil_awprot),
    .s_axil_awvalid(s_axil_awvalid),
    .s_axil_awready(s_axil_awready),
    .s_axil_wdata(s_axil_wdata),
    .s_axil_wstrb(s_axil_wstrb),
    .s_axil_wvalid(s_axil_wvalid),
    .s_axil_wready(s_axil_wready),
    .s_axil_bresp(s_axil_bresp),
    .s_axil_bvalid(s_axil_bvalid),
    .s_axil_bready(s_axil_bready),
    .s_axil_araddr(s_axil_araddr),
    .s_axil_arprot(s_axil_arprot),
    .s_axil_arvalid(s_axil_arvalid),
    .s_axil_arready(s_axil_arready),
    .s_axil_rdata(s_axil_rdata),
    .s_axil_rresp(s_axil_rresp),
    .s_axil_rvalid(s_axil_rvalid),
    .s_axil_rready(s_axil_rready),
    .ctrl_start(ctrl_start),
    .ctrl_soft_reset(ctrl_soft_reset),
    .ctrl_run_cmd(ctrl_run_cmd),
    .cmd_we(hdr_we),
    .cmd_idx(hdr_cnt_reg),
    .cmd_data(s_axis_tdata),
    .cfg_op(cfg_op),
    .cfg_in_c(cfg_in_c),
    .cfg_in_h(cfg_in_h),
    .cfg_in_w(cfg_in_w),
    .cfg_out_c(cfg_out_c),
    .cfg_kernel(cfg_kernel),
    .cfg_stride(cfg_stride),
    .cfg_pad(cfg_pad),
    .cfg_wbase(cfg_wbase),
    .cfg_pbase(cfg_pbase),
    .cfg_act(cfg_act),
    .cfg_add_mult(cfg_add_mult),
    .sts_busy(state_reg != STATE_IDLE),
    .sts_done(done_reg),
    .sts_error(error_reg),
    .sts_draining(in_state_reg == IN_DRAIN || cmd_drain_reg),
    .sts_config_err(config_err_reg),
    .sts_cmd(cmd_mode_reg),
    .sts_job_index(job_index_reg),
    .sts_out_h(d_out_h_reg),
    .sts_out_w(d_out_w_reg),
    .sts_in_beats(d_in_beats_reg),
    .sts_out_beats(d_out_beats_reg),
    .sts_cyc_total(cyc_total_reg),
    .sts_cyc_mac(cyc_mac_reg),
    .sts_cyc_in_stall(cyc_in_stall_reg),
    .sts_cyc_out_stall(cyc_out_stall_reg)
);

// ---------------------------------------------------------------------------------------
// derived configuration (recomputed every cycle; stable while BUSY, as writes are ignored)
// ---------------------------------------------------------------------------------------
wire [2:0] opcode = cfg_op[2:0];
wire op_relu = cfg_op[4];
wire [1:0] op_pool = cfg_op[6:5];
wire op_int32 = cfg_op[7];
wire op_lp = cfg_op[8];
wire op_lw = cfg_op[9];
wire op_pair = cfg_op[10];
// KERNEL: [7:0] K (rows; also columns when KW = 0), [15:8] KW (columns), [31:16] zero
wire [7:0] k_h = cfg_kernel[7:0];
wire [7:0] k_w = cfg_kernel[15:8] == 8'd0 ? cfg_kernel[7:0] : cfg_kernel[15:8];
wire is_conv = opcode == 3'd0;
wire is_lin = opcode == 3'd1;
wire is_pool_op = opcode == 3'd2 || opcode == 3'd3;
// ADD (version 1.4): OP[21:16] ADD_K = k, ADD_MULT [15:0] Ma, [31:16] Mb; geometry as a
// 1x1 kernel (KERNEL, STRIDE, PAD, WBASE, PBASE ignored), two operand maps in the I section
wire is_add = opcode == 3'd4;
wire no_kernel = is_pool_op || is_add;
wire [5:0] add_k = cfg_op[21:16];
wire add_step;  // an ADD word step (counted in CYC_MAC)
// ACT (version 1.3): [7:0] act_min, [15:8] act_max (int8); CONV and LINEAR saturate to
// [lo, act_max] with lo = max(act_min, RELU ? 0 : -128); MAXPOOL/AVGPOOL ignore it
wire signed [7:0] act_min = cfg_act[7:0];
wire signed [7:0] act_max = cfg_act[15:8];
wire signed [7:0] act_lo = op_relu && act_min[7] ? 8'sd0 : act_min;

// stage a
reg [1:0] a_pool_reg = 2'd0;
reg [2:0] a_k_reg = 3'd0, a_kw_reg = 3'd0;
reg a_pair_reg = 1'b0;
reg a_s2_reg = 1'b0;
reg [3:0] a_pt_reg = 4'd0, a_pl_reg = 4'd0;
reg [16:0] a_icg_reg = 17'd0, a_nog_reg = 17'd0;
reg signed [18:0] a_span_h_reg = 19'sd0, a_span_w_reg = 19'sd0;
reg a_in_big_reg = 1'b0, a_out_big_reg = 1'b0, a_wbase_big_reg = 1'b0, a_pbase_big_reg = 1'b0;
// stage b
reg [16:0] b_conv_h_reg = 17'd0, b_conv_w_reg = 17'd0;
reg [5:0] b_kk_reg = 6'd0;
reg [31:0] b_hw_reg = 32'd0;
/* verilator lint_off UNUSEDSIGNAL */  // wider than the 32-bit registers; only valid configurations matter
reg [32:0] b_rs_reg = 33'd0;
/* verilator lint_on UNUSEDSIGNAL */
// stage c
reg [16:0] c_out_h_reg = 17'd0, c_out_w_reg = 17'd0;
reg [48:0] c_iwords_reg = 49'd0;
reg [22:0] c_kkicg_reg = 23'd0;
// stage d
reg [39:0] d_wwords_reg = 40'd0;
reg [33:0] d_opx_reg = 34'd0;
/* verilator lint_off UNUSEDSIGNAL */  // wider than the 32-bit registers; only valid configurations matter
reg [48:0] d_ibeats_reg = 49'd0;
/* verilator lint_on UNUSEDSIGNAL */
// stage e
/* verilator lint_off UNUSEDSIGNAL */  // wider than the 32-bit registers; only valid configurations matter
reg [49:0] e_ovals_reg = 50'd0;
/* verilator lint_on UNUSEDSIGNAL */

wire [18:0] span_h = {3'd0, cfg_in_h[15:0]} + (no_kernel ? 19'd0 : {15'd0, cfg_pad[3:0]} + {15'd0, cfg_pad[7:4]})
    - (no_kernel ? 19'd1 : {16'd0, k_h[2:0]});
wire [18:0] span_w = {3'd0, cfg_in_w[15:0]} + (no_kernel ? 19'd0 : {15'd0, cfg_pad[11:8]} + {15'd0, cfg_pad[15:12]})
    - (no_kernel ? 19'd1 : {16'd0, k_w[2:0]});
/* verilator lint_off UNUSEDSIGNAL */  // wider than the 32-bit registers; only valid configurations matter
wire [39:0] pbeats = (op_lp && !no_kernel) ? {23'd0, cfg_out_c[15:0], 1'b0} : 40'd0;
/* verilator lint_on UNUSEDSIGNAL */
/* verilator lint_off UNUSEDSIGNAL */  // wider than the 32-bit registers; only valid configurations matter
wire [39:0] wbeats = (op_lw && !no_kernel) ? d_wwords_reg * WORD_BEATS : 40'd0;
/* verilator lint_on UNUSEDSIGNAL */

always @(posedge clk) begin
    a_pool_reg <= opcode == 3'd2 ? 2'd1 : opcode == 3'd3 ? 2'd2 : op_pool;
    a_k_reg <= no_kernel ? 3'd1 : k_h[2:0];
    a_kw_reg <= no_kernel ? 3'd1 : k_w[2:0];
    a_pair_reg <= op_pair;
    a_s2_reg <= !no_kernel && cfg_stride == 32'd2;
    a_pt_reg <= no_kernel ? 4'd0 : cfg_pad[3:0];
    a_pl_reg <= no_kernel ? 4'd0 : cfg_pad[11:8];
    a_icg_reg <= ({1'b0, cfg_in_c[15:0]} + P_IC_M1) >> LOG_PIC;
    a_nog_reg <= ({1'b0, cfg_out_c[15:0]} + P_OC_M1) >> LOG_POC;
    a_span_h_reg <= span_h;
    a_span_w_reg <= span_w;
    a_in_big_reg <= cfg_in_c[31:16] != 16'd0 || cfg_in_h[31:16] != 16'd0 || cfg_in_w[31:16] != 16'd0;
    a_out_big_reg <= cfg_out_c[31:16] != 16'd0;
    a_wbase_big_reg <= cfg_wbase[31:16] != 16'd0;
    a_pbase_big_reg <= cfg_pbase[31:16] != 16'd0;

    b_conv_h_reg <= a_span_h_reg < 0 ? 17'd0 : (a_s2_reg ? a_span_h_reg[17:1] : a_span_h_reg[16:0]) + 17'd1;
    b_conv_w_reg <= a_span_w_reg < 0 ? 17'd0 : (a_s2_reg ? a_span_w_reg[17:1] : a_span_w_reg[16:0]) + 17'd1;
    b_kk_reg <= a_k_reg * a_kw_reg;
    b_hw_reg <= cfg_in_h[15:0] * cfg_in_w[15:0];
    b_rs_reg <= cfg_in_w[15:0] * a_icg_reg;

    c_out_h_reg <= a_pool_reg != 2'd0 ? {1'b0, b_conv_h_reg[16:1]} : b_conv_h_reg;
    // PAIR: the conv grid's columns each hold a horizontal pair already (pooled in the lanes)
    c_out_w_reg <= a_pool_reg != 2'd0 && !a_pair_reg ? {1'b0, b_conv_w_reg[16:1]} : b_conv_w_reg;
    c_iwords_reg <= b_hw_reg * a_icg_reg;
    c_kkicg_reg <= b_kk_reg * a_icg_reg;

    d_wwords_reg <= no_kernel ? 40'd0 : a_nog_reg * c_kkicg_reg;
    d_opx_reg <= c_out_h_reg * c_out_w_reg;
    // ADD: the two operand maps, each padded to whole beats
    d_ibeats_reg <= (((c_iwords_reg << LOG_PIC) + 49'd7) >> 3) << is_add;

    e_ovals_reg <= d_opx_reg * cfg_out_c[15:0];

    d_out_h_reg <= {15'd0, c_out_h_reg};
    d_out_w_reg <= {15'd0, c_out_w_reg};
    d_in_beats_reg <= pbeats[31:0] + wbeats[31:0] + d_ibeats_reg[31:0];
    d_out_beats_reg <= op_int32 ? ((e_ovals_reg[31:0] << 2) + 32'd7) >> 3 : (e_ovals_reg[31:0] + 32'd7) >> 3;
end

// configuration checks, in the documented order
wire [3:0] pad_max_ok_n = {{4'd0, cfg_pad[15:12]} >= k_w, {4'd0, cfg_pad[11:8]} >= k_w,
                           {4'd0, cfg_pad[7:4]} >= k_h, {4'd0, cfg_pad[3:0]} >= k_h};
wire chk1 = opcode > 3'd4;
wire chk2 = cfg_in_c == 32'd0 || cfg_in_h == 32'd0 || cfg_in_w == 32'd0 || cfg_out_c == 32'd0;
wire chk3 = is_conv && !(cfg_kernel[31:16] == 16'd0 && k_h >= 8'd1 && k_h <= 8'd7 && k_w <= 8'd7
    && (cfg_stride == 32'd1 || cfg_stride == 32'd2) && pad_max_ok_n == 4'd0);
wire chk4 = is_lin && !(cfg_in_h == 32'd1 && cfg_in_w == 32'd1 && cfg_kernel == 32'd1 && cfg_stride == 32'd1
    && cfg_pad == 16'd0 && op_pool == 2'd0);
wire chk5 = is_pool_op && !(cfg_out_c == cfg_in_c && !op_int32 && !op_lp && !op_lw);
wire chk6 = op_pool == 2'd3 || (op_int32 && (op_relu || op_pool != 2'd0));
wire chk7 = !a_in_big_reg && (a_pool_reg != 2'd0 ? (b_conv_h_reg < 17'd2 || b_conv_w_reg < (a_pair_reg ? 17'd1 : 17'd2))
                                                  : (b_conv_h_reg == 17'd0 || b_conv_w_reg == 17'd0));
wire chk8 = a_in_big_reg || c_iwords_reg > (is_add ? IBUF_DEPTH_49 >> 1 : IBUF_DEPTH_49);
wire chk9 = !no_kernel && (a_out_big_reg || a_wbase_big_reg
    || {24'd0, cfg_wbase[15:0]} + d_wwords_reg > WBUF_DEPTH_40);
wire chk10 = !no_kernel && (a_pbase_big_reg || {16'd0, cfg_pbase[15:0]} + {16'd0, cfg_out_c[15:0]} > PBUF_DEPTH);
// PAIR: CONV with POOL = max, OUT_C <= P_OC/2 and int8 output
wire chk11 = op_pair && !(is_conv && op_pool == 2'd1 && !op_int32 && P_OC > 1
    && {16'd0, cfg_out_c[15:0]} <= P_OC / 2);
// ACT: bounds not empty (lo <= act_max); with OUT_INT32 only the reset value (no bounds)
wire chk12 = !is_pool_op && (act_lo > act_max || (op_int32 && cfg_act != 16'h7F80));
// ADD: OUT_C = IN_C, no pool, no OUT_INT32, no PAIR, no parameters or weights, 1 <= k <= 62
wire chk13 = is_add && !(cfg_out_c == cfg_in_c && op_pool == 2'd0 && !op_int32 && !op_pair && !op_lp && !op_lw
    && add_k != 6'd0 && add_k != 6'd63);
// feature buffer (version 1.5, command jobs): each part in the buffer, B_FBUF only with ADD,
// OUT_FBUF not on the LAST job (the stream's output must end on m_axis); an IN_TAPS job's
// part a is its source, whose extent check 16 tests
wire [32:0] fb_a_end = {17'd0, in_base_reg} + (is_add ? {2'b0, d_ibeats_reg[31:1]} : {1'b0, d_ibeats_reg[31:0]});
wire [32:0] fb_b_end = {17'd0, b_base_reg} + {2'b0, d_ibeats_reg[31:1]};
wire [32:0] fb_o_end = {17'd0, out_base_reg} + {1'b0, d_out_beats_reg};
wire chk15 = (fl_in_reg && !fl_taps_reg && fb_a_end > FBUF_DEPTH_33)
    || (fl_b_reg && (!is_add || fb_b_end > FBUF_DEPTH_33))
    || (fl_out_reg && (cmd_last_reg || fb_o_end > FBUF_DEPTH_33));
// IN_TAPS (version 1.6): IN_FBUF, CONV, a build with P_IC = 8, 1 <= TAP_C <= 8, TAP_T >= 1,
// IN_C = TAP_T * TAP_C, SRC_W >= 1 and the source inside the buffer: IN_BASE + IN_H * SRC_W
// (the tap builder's serial product: valid 7 cycles after the header's last beat, the
// check registers its code a cycle later and reads that in the 9th, at wait 0)
wire [32:0] tp_src_end;
wire [7:0] tap_tc = (tap_c_reg[0] ? {4'd0, tap_t_reg} : 8'd0) + (tap_c_reg[1] ? {3'd0, tap_t_reg, 1'b0} : 8'd0)
    + (tap_c_reg[2] ? {2'd0, tap_t_reg, 2'b0} : 8'd0) + (tap_c_reg[3] ? {1'd0, tap_t_reg, 3'b0} : 8'd0);
wire chk16 = fl_taps_reg && !(TAPS && fl_in_reg && is_conv && tap_c_reg != 4'd0 && tap_c_reg <= 4'd8
    && tap_t_reg != 4'd0 && cfg_in_c == {24'd0, tap_tc} && src_w_reg != 16'd0 && tp_src_end <= FBUF_DEPTH_33);
wire [4:0] check_code = chk1 ? 5'd1 : chk2 ? 5'd2 : chk3 ? 5'd3 : chk4 ? 5'd4 : chk5 ? 5'd5 : chk6 ? 5'd6
    : chk7 ? 5'd7 : chk8 ? 5'd8 : chk9 ? 5'd9 : chk10 ? 5'd10 : chk11 ? 5'd11 : chk12 ? 5'd12
    : chk13 ? 5'd13 : chk15 ? 5'd15 : chk16 ? 5'd16 : 5'd0;

// ---------------------------------------------------------------------------------------
// controller
// ---------------------------------------------------------------------------------------
// registered: the checks' compare-and-priority logic stays off the paths that START drives
// (the derived values settle 5 cycles after a write, the check waits CHECK_WAIT = 8)
reg [4:0] check_code_reg = 5'd0;
always @(posedge clk) begin
    check_code_reg <= check_code;
end
wire accept = state_reg == STATE_CHECK && wait_reg == 4'd0 && check_code_reg == 5'd0;
// an input beat: from s_axis, or (a command job's I section part in the feature buffer) read
// from there, or (IN_TAPS) built by the tap builder from the source there; P, W, headers
// and drains only ever come from s_axis
wire st_beat = s_axis_tvalid && s_axis_tready;
wire fb_beat;
wire [63:0] fb_rd_data;
wire tp_valid;
wire [63:0] tp_data;
wire in_beat = st_beat || fb_beat;
wire [63:0] in_data = tp_valid ? tp_data : fb_beat ? fb_rd_data : s_axis_tdata;
reg [31:0] in_cnt_reg = 32'd0, in_cnt_next;
wire in_final = in_state_reg == IN_I && in_cnt_reg == d_ibeats_reg[31:0] - 32'd1;
// the job's last input beat carries TLAST: a register job (a command stream's only TLAST is
// on its END beat)
wire want_tlast = !cmd_mode_reg;
wire err_early = st_beat && s_axis_tlast && !(in_final && want_tlast) && in_state_reg != IN_DRAIN;
// a command header beat, and what is wrong with it
wire hdr_beat = st_beat && state_reg == STATE_HDR;
wire hdr_we = hdr_beat && !end_expect_reg && hdr_cnt_reg != 3'd0 && hdr_cnt_reg != HDR_LAST_BEAT;
// beat 0: MAGIC, FLAGS (tdata[63:32]) with no reserved bit (7:5, 31:21) and no taps field
// (20:8) without IN_TAPS (bit 4); beat 7: no SRC_W (word 15 [31:16]) without IN_TAPS
wire hdr_bad = (hdr_cnt_reg == 3'd0 && (s_axis_tdata[31:0] != CMD_MAGIC || s_axis_tdata[39:37] != 3'd0
        || s_axis_tdata[63:53] != 11'd0 || (!s_axis_tdata[36] && s_axis_tdata[52:40] != 13'd0)))
    || (hdr_cnt_reg == HDR_LAST_BEAT && !fl_taps_reg && s_axis_tdata[63:48] != 16'd0);
wire end_ok = s_axis_tdata == {32'd0, END_MAGIC};
// RUN_STREAM waits for nothing: it is ignored while the input drains or an earlier packet's
// final beat still waits on m_axis (a stream's packet never starts behind another's end)
wire pk_tvalid;
wire go_cmd = ctrl_run_cmd && !cmd_drain_reg && !pk_tvalid;
wire go_job = ctrl_start && !cmd_drain_reg;
wire out_done;
// datapath flush: reset, soft reset, a new job, an aborted job; the output packer is
// reset only by the first three: an aborted job ends its output packet with TLAST. In a
// command stream the packer is reset once, at RUN_STREAM (when no beat waits in it): its
// jobs share one packet.
wire out_flush = rst || ctrl_soft_reset || (accept && !cmd_mode_reg)
    || (state_reg == STATE_IDLE && go_cmd);
wire abort = state_reg == STATE_RUN && err_early;
wire flush = rst || ctrl_soft_reset || accept || abort;

always @* begin
    state_next = state_reg;
    done_next = done_reg;
    error_next = error_reg;
    config_err_next = config_err_reg;
    wait_next = wait_reg == 4'd0 ? 4'd0 : wait_reg - 4'd1;
    out_done_next = out_done_reg || out_done;
    cmd_mode_next = cmd_mode_reg;
    cmd_last_next = cmd_last_reg;
    hdr_cnt_next = hdr_cnt_reg;
    job_index_next = job_index_reg;
    cmd_drain_next = cmd_drain_reg && !(st_beat && s_axis_tlast);
    cmd_abort = 1'b0;
    fl_in_next = fl_in_reg;
    fl_b_next = fl_b_reg;
    fl_out_next = fl_out_reg;
    fl_taps_next = fl_taps_reg;
    tap_c_next = tap_c_reg;
    tap_t_next = tap_t_reg;
    tap_pad_next = tap_pad_reg;
    tap_s2_next = tap_s2_reg;
    src_w_next = src_w_reg;
    in_base_next = in_base_reg;
    b_base_next = b_base_reg;
    out_base_next = out_base_reg;
    end_expect_next = end_expect_reg;
    cmd_err_next = cmd_err_reg;

    case (state_reg)
        STATE_IDLE: begin
            if (go_job || go_cmd) begin
                state_next = go_cmd ? STATE_HDR : STATE_CHECK;
                wait_next = CHECK_WAIT;
                done_next = 1'b0;
                error_next = 3'd0;
                config_err_next = 5'd0;
                cmd_mode_next = go_cmd;
                cmd_last_next = 1'b0;
                hdr_cnt_next = 3'd0;
                job_index_next = 16'd0;
                fl_in_next = 1'b0;
                fl_b_next = 1'b0;
                fl_out_next = 1'b0;
                fl_taps_next = 1'b0;
                end_expect_next = 1'b0;
                cmd_err_next = 1'b0;
            end
        end
        STATE_HDR: begin
            if (hdr_beat && end_expect_reg) begin
                // after the LAST job: the END beat, with TLAST (the outputs are all sent)
                state_next = STATE_IDLE;
                done_next = 1'b1;
                end_expect_next = 1'b0;
                if (!end_ok) begin
                    error_next = 3'b001;
                    config_err_next = CFG_HEADER;
                    cmd_drain_next = !s_axis_tlast;
                end else if (!s_axis_tlast) begin
                    error_next = 3'b100;
                    cmd_drain_next = 1'b1;
                end
            end else if (hdr_beat) begin
                hdr_cnt_next = hdr_cnt_reg + 3'd1;
                if (hdr_cnt_reg == 3'd0) begin
                    cmd_last_next = s_axis_tdata[32];
                    fl_in_next = s_axis_tdata[33];
                    fl_b_next = s_axis_tdata[34];
                    fl_out_next = s_axis_tdata[35];
                    fl_taps_next = s_axis_tdata[36];
                    tap_c_next = s_axis_tdata[43:40];
                    tap_t_next = s_axis_tdata[47:44];
                    tap_pad_next = s_axis_tdata[51:48];
                    tap_s2_next = s_axis_tdata[52];
                end
                if (hdr_cnt_reg == HDR_LAST_BEAT) begin
                    in_base_next = s_axis_tdata[15:0];
                    b_base_next = s_axis_tdata[31:16];
                    out_base_next = s_axis_tdata[47:32];
                    src_w_next = s_axis_tdata[63:48];
                end
                if (hdr_bad || s_axis_tlast) begin
                    // a bad header, or the stream ends inside one: stop, end the output
                    // packet, drop the rest of the input
                    state_next = STATE_IDLE;
                    done_next = 1'b1;
                    error_next = {1'b0, s_axis_tlast, hdr_bad};
                    config_err_next = hdr_bad ? CFG_HEADER : 5'd0;
                    cmd_abort = 1'b1;
                    cmd_err_next = 1'b1;
                    cmd_drain_next = !s_axis_tlast;
                end else if (hdr_cnt_reg == HDR_LAST_BEAT) begin
                    state_next = STATE_CHECK;
                    wait_next = CHECK_WAIT;
                end
            end
        end
        STATE_CHECK: begin
            if (wait_reg == 4'd0) begin
                if (check_code_reg != 5'd0) begin
                    state_next = STATE_IDLE;
                    done_next = 1'b1;
                    error_next = 3'b001;
                    config_err_next = check_code_reg;
                    // a command stream: the rest of its input follows; end the output too
                    cmd_abort = cmd_mode_reg;
                    cmd_err_next = cmd_mode_reg;
                    cmd_drain_next = cmd_mode_reg;
                end else begin
                    state_next = STATE_RUN;
                    out_done_next = 1'b0;
                end
            end
        end
        STATE_RUN: begin
            if (err_early) begin
                state_next = STATE_IDLE;
                done_next = 1'b1;
                error_next = error_reg | 3'b010;
                cmd_err_next = cmd_mode_reg;
            end else begin
                if (st_beat && in_final && want_tlast && !s_axis_tlast) begin
                    error_next = error_reg | 3'b100;
                end
                if (out_done_reg && in_state_reg == IN_DONE) begin
                    if (cmd_mode_reg && !cmd_last_reg) begin
                        // the next job's header follows in the stream
                        state_next = STATE_HDR;
                        hdr_cnt_next = 3'd0;
                        job_index_next = job_index_reg + 16'd1;
                    end else if (cmd_mode_reg) begin
                        // the LAST job: the END beat follows
                        state_next = STATE_HDR;
                        end_expect_next = 1'b1;
                    end else begin
                        state_next = STATE_IDLE;
                        done_next = 1'b1;
                    end
                end
            end
        end
        default: state_next = STATE_IDLE;
    endcase

    if (ctrl_soft_reset) begin
        state_next = STATE_IDLE;
        done_next = 1'b0;
        error_next = 3'd0;
        config_err_next = 5'd0;
        cmd_mode_next = 1'b0;
        cmd_last_next = 1'b0;
        job_index_next = 16'd0;
        cmd_drain_next = 1'b0;
        cmd_abort = 1'b0;
        fl_in_next = 1'b0;
        fl_b_next = 1'b0;
        fl_out_next = 1'b0;
        fl_taps_next = 1'b0;
        end_expect_next = 1'b0;
        cmd_err_next = 1'b0;
    end
end

always @(posedge clk) begin
    state_reg <= state_next;
    done_reg <= done_next;
    error_reg <= error_next;
    config_err_reg <= config_err_next;
    wait_reg <= wait_next;
    out_done_reg <= out_done_next;
    cmd_mode_reg <= cmd_mode_next;
    cmd_last_reg <= cmd_last_next;
    hdr_cnt_reg <= hdr_cnt_next;
    job_index_reg <= job_index_next;
    cmd_drain_reg <= cmd_drain_next;
    fl_in_reg <= fl_in_next;
    fl_b_reg <= fl_b_next;
    fl_out_reg <= fl_out_next;
    fl_taps_reg <= fl_taps_next;
    tap_c_reg <= tap_c_next;
    tap_t_reg <= tap_t_next;
    tap_pad_reg <= tap_pad_next;
    tap_s2_reg <= tap_s2_next;
    src_w_reg <= src_w_next;
    in_base_reg <= in_base_next;
    b_base_reg <= b_base_next;
    out_base_reg <= out_base_next;
    end_expect_reg <= end_expect_next;
    cmd_err_reg <= cmd_err_next;

    if (state_reg == STATE_IDLE && (go_job || go_cmd) && !ctrl_soft_reset) begin
        cyc_total_reg <= 32'd0;
        cyc_mac_reg <= 32'd0;
        cyc_in_stall_reg <= 32'd0;
        cyc_out_stall_reg <= 32'd0;
    end else begin
        if (state_reg != STATE_IDLE) begin
            cyc_total_reg <= cyc_total_reg + 32'd1;
        end
        if (mac_step || add_step) begin
            cyc_mac_reg <= cyc_mac_reg + 32'd1;
        end
        if (s_axis_tready && !s_axis_tvalid) begin
            cyc_in_stall_reg <= cyc_in_stall_reg + 32'd1;
        end
        if (m_axis_tvalid && !m_axis_tready) begin
            cyc_out_stall_reg <= cyc_out_stall_reg + 32'd1;
        end
    end

    if (rst) begin
        state_reg <= STATE_IDLE;
        done_reg <= 1'b0;
        error_reg <= 3'd0;
        config_err_reg <= 5'd0;
        wait_reg <= 4'd0;
        out_done_reg <= 1'b0;
        cmd_mode_reg <= 1'b0;
        cmd_last_reg <= 1'b0;
        hdr_cnt_reg <= 3'd0;
        job_index_reg <= 16'd0;
        cmd_drain_reg <= 1'b0;
        fl_in_reg <= 1'b0;
        fl_b_reg <= 1'b0;
        fl_out_reg <= 1'b0;
        fl_taps_reg <= 1'b0;
        end_expect_reg <= 1'b0;
        cmd_err_reg <= 1'b0;
        cyc_total_reg <= 32'd0;
        cyc_mac_reg <= 32'd0;
        cyc_in_stall_reg <= 32'd0;
        cyc_out_stall_reg <= 32'd0;
    end
end

// ---------------------------------------------------------------------------------------
// stream input: sections P, W, I into the buffers
// ---------------------------------------------------------------------------------------
reg [63:0] pa_reg = 64'd0, pa_next;
reg [PA_WIDTH:0] p_addr_reg = {PA_WIDTH+1{1'b0}}, p_addr_next;
reg [WA_WIDTH:0] w_addr_reg = {WA_WIDTH+1{1'b0}}, w_addr_next;
reg [15:0] w_beat_reg = 16'd0, w_beat_next;
reg [15:0] rows_avail_reg = 16'd0;
reg [IA_WIDTH+3:0] words_in_reg = {IA_WIDTH+4{1'b0}};
reg [IA_WIDTH+16:0] row_end_reg = {IA_WIDTH+17{1'b0}};

reg add_mode_reg = 1'b0;  // an ADD job (registered: the buffer addresses depend on it)
localparam HROWS = IROWS / 2;
localparam HR_WIDTH = HROWS > 1 ? $clog2(HROWS) : 1;
/* verilator lint_off WIDTH */
localparam [IR_WIDTH-1:0] HROWS_IR = HROWS;
/* verilator lint_on WIDTH */
reg [IR_WIDTH-1:0] ib_wrow_reg = {IR_WIDTH{1'b0}};
reg ib_bpart_reg = 1'b0;
reg [HR_WIDTH:0] rows_b_reg = {HR_WIDTH+1{1'b0}};
always @(posedge clk) begin
    add_mode_reg <= is_add;
end

wire [31:0] sec_p_beats = pbeats[31:0];
wire [31:0] sec_w_beats = wbeats[31:0];
wire in_sec_last = (in_state_reg == IN_P && in_cnt_reg == sec_p_beats - 32'd1)
    || (in_state_reg == IN_W && in_cnt_reg == sec_w_beats - 32'd1);

// write ports
wire pb_we = in_beat && in_state_reg == IN_P && in_cnt_reg[0];
wire wb_we = in_beat && in_state_reg == IN_W;
wire ib_we = in_beat && in_state_reg == IN_I;

// the I section's current part (an ADD's a, then b) comes from the feature buffer
wire part_fb = in_state_reg == IN_I && (ib_bpart_reg ? fl_b_reg : fl_in_reg);
assign s_axis_tready = (state_reg == STATE_RUN && (in_state_reg == IN_P || in_state_reg == IN_W
    || (in_state_reg == IN_I && !part_fb) || in_state_reg == IN_DRAIN)) || state_reg == STATE_HDR || cmd_drain_reg;

always @* begin
    in_state_next = in_state_reg;
    in_cnt_next = in_cnt_reg;
    pa_next = pa_reg;
    p_addr_next = p_addr_reg;
    w_addr_next = w_addr_reg;
    w_beat_next = w_beat_reg;

    if (accept) begin
        in_cnt_next = 32'd0;
        p_addr_next = cfg_pbase[PA_WIDTH:0];
        w_addr_next = cfg_wbase[WA_WIDTH:0];
        w_beat_next = 16'd0;
        in_state_next = sec_p_beats != 32'd0 ? IN_P : sec_w_beats != 32'd0 ? IN_W : IN_I;
    end else if (in_beat) begin
        in_cnt_next = in_cnt_reg + 32'd1;
        case (in_state_reg)
            IN_P: begin
                if (!in_cnt_reg[0]) begin
                    pa_next = s_axis_tdata;
                end else begin
                    p_addr_next = p_addr_reg + 1'b1;
                end
                if (in_sec_last) begin
                    in_cnt_next = 32'd0;
                    in_state_next = sec_w_beats != 32'd0 ? IN_W : IN_I;
                end
            end
            IN_W: begin
                w_beat_next = w_beat_reg + 16'd1;
                if ({16'd0, w_beat_reg} == WORD_BEATS - 1) begin
                    w_beat_next = 16'd0;
                    w_addr_next = w_addr_reg + 1'b1;
                end
                if (in_sec_last) begin
                    in_cnt_next = 32'd0;
                    in_state_next = IN_I;
                end
            end
            IN_I: begin
                if (in_final) begin
                    in_state_next = s_axis_tlast || !want_tlast ? IN_DONE : IN_DRAIN;
                end
            end
            IN_DRAIN: begin
                if (s_axis_tlast) begin
                    in_state_next = IN_DONE;
                end
            end
            default: begin
            end
        endcase
    end
    if (flush && !accept) begin
        in_state_next = IN_IDLE;
    end
end

always @(posedge clk) begin
    in_state_reg <= in_state_next;
    in_cnt_reg <= in_cnt_next;
    pa_reg <= pa_next;
    p_addr_reg <= p_addr_next;
    w_addr_reg <= w_addr_next;
    w_beat_reg <= w_beat_next;

    // input buffer write row; ADD: operand b from the upper half on
    if (accept) begin
        ib_wrow_reg <= {IR_WIDTH{1'b0}};
        ib_bpart_reg <= 1'b0;
        rows_b_reg <= {HR_WIDTH+1{1'b0}};
    end else if (ib_we) begin
        if (add_mode_reg && !ib_bpart_reg && in_cnt_reg == d_ibeats_reg[32:1] - 32'd1) begin
            ib_wrow_reg <= HROWS_IR;
            ib_bpart_reg <= 1'b1;
        end else begin
            ib_wrow_reg <= ib_wrow_reg + 1'b1;
        end
        if (ib_bpart_reg) begin
            rows_b_reg <= rows_b_reg + 1'b1;
        end
    end

    // input rows available to the MAC steps
    if (accept) begin
        words_in_reg <= {IA_WIDTH+4{1'b0}};
        rows_avail_reg <= 16'd0;
        row_end_reg <= b_rs_reg[IA_WIDTH+16:0];
    end else begin
        if (ib_we) begin
            words_in_reg <= words_in_reg + NB[IA_WIDTH+3:0];
        end
        if (rows_avail_reg < cfg_in_h[15:0] && {{13{1'b0}}, words_in_reg} >= row_end_reg) begin
            rows_avail_reg <= rows_avail_reg + 16'd1;
            row_end_reg <= row_end_reg + b_rs_reg[IA_WIDTH+16:0];
        end
    end

    if (rst) begin
        in_state_reg <= IN_IDLE;
        in_cnt_reg <= 32'd0;
        rows_avail_reg <= 16'd0;
    end
end

// ---------------------------------------------------------------------------------------
// feature buffer (version 1.5): a command job's I section parts read from it, its output
// written into it (FBUF_DEPTH beats; one read and one write port)
// ---------------------------------------------------------------------------------------
// beats of the I section's parts: a (the map; an ADD's first operand) and b
wire [31:0] part_a_beats = add_mode_reg ? {1'b0, d_ibeats_reg[31:1]} : d_ibeats_reg[31:0];
wire [31:0] part_b_beats = {1'b0, d_ibeats_reg[31:1]};
// a part starts: the I section begins (part a), or an ADD's operand b begins
wire start_a = in_state_next == IN_I && in_state_reg != IN_I;
wire start_b = ib_we && add_mode_reg && !ib_bpart_reg && in_cnt_reg == d_ibeats_reg[32:1] - 32'd1;
reg [FA_WIDTH-1:0] fb_raddr_reg = {FA_WIDTH{1'b0}};
reg [31:0] fb_left_reg = 32'd0;  // beats of the current part still to read
reg fb_q_reg = 1'b0;             // a beat was read last cycle: its data are on fb_rd_data
wire fb_rd_en = fb_left_reg != 32'd0 && state_reg == STATE_RUN;
assign fb_beat = fb_q_reg || tp_valid;
always @(posedge clk) begin
    fb_q_reg <= fb_rd_en && !flush;
    if (start_a && fl_in_reg && !fl_taps_reg) begin
        fb_raddr_reg <= in_base_reg[FA_WIDTH-1:0];
        fb_left_reg <= part_a_beats;
    end else if (start_b && fl_b_reg) begin
        fb_raddr_reg <= b_base_reg[FA_WIDTH-1:0];
        fb_left_reg <= part_b_beats;
    end else if (fb_rd_en) begin
        fb_raddr_reg <= fb_raddr_reg + 1'b1;
        fb_left_reg <= fb_left_reg - 32'd1;
    end
    if (flush && !accept) begin
        fb_left_reg <= 32'd0;
        fb_q_reg <= 1'b0;
    end
end

// IN_TAPS (version 1.6): the tap builder walks the source in place of the reader above
// and writes the I section's beats (one a cycle at most; the input buffer takes them all).
// Its product IN_H * SRC_W for check 16 starts the cycle after the header's last beat.
wire tp_rd_en;
wire [FA_WIDTH-1:0] tp_rd_addr;
reg tp_calc_reg = 1'b0;
always @(posedge clk) begin
    tp_calc_reg <= hdr_beat && hdr_cnt_reg == HDR_LAST_BEAT;
end
generate
    if (TAPS) begin : g_taps
        rtlcnn_taps #(
            .FA_WIDTH(FA_WIDTH)
        )
        taps_inst (
            .clk(clk),
            .rst(flush && !accept),
            .cfg_base(in_base_reg),
            .cfg_src_w(src_w_reg),
            .cfg_c(tap_c_reg),
            .cfg_t(tap_t_reg),
            .cfg_pad(tap_pad_reg),
            .cfg_step2(tap_s2_reg),
            .cfg_rows(cfg_in_h[15:0]),
            .cfg_cols(cfg_in_w[15:0]),
            .calc(tp_calc_reg),
            .src_end(tp_src_end),
            .start(start_a && fl_taps_reg),
            .rd_en(tp_rd_en),
            .rd_addr(tp_rd_addr),
            .rd_data(fb_rd_data),
            .out_valid(tp_valid),
            .out_data(tp_data)
        );
    end else begin : g_no_taps
        // P_IC != 8: check 16 refuses every IN_TAPS job
        assign tp_src_end = 33'd0;
        assign tp_rd_en = 1'b0;
        assign tp_rd_addr = {FA_WIDTH{1'b0}};
        assign tp_valid = 1'b0;
        assign tp_data = 64'd0;
        /* verilator lint_off UNUSEDSIGNAL */
        wire unused_taps = &{1'b0, tap_pad_reg, tap_s2_reg, tp_calc_reg};
        /* verilator lint_on UNUSEDSIGNAL */
    end
endgenerate

// the output: to m_axis, or (OUT_FBUF, unless the stream has failed: its final beat goes to
// m_axis) into the feature buffer, which takes a beat every cycle
wire pk_tlast;
wire [63:0] pk_tdata;
wire out_to_fb = fl_out_reg && !cmd_err_reg;
wire pk_tready = out_to_fb || m_axis_tready;
assign m_axis_tvalid = pk_tvalid && !out_to_fb;
assign m_axis_tdata = pk_tdata;
assign m_axis_tlast = pk_tlast;
reg [FA_WIDTH-1:0] fb_waddr_reg = {FA_WIDTH{1'b0}};
wire fb_we = pk_tvalid && out_to_fb;
always @(posedge clk) begin
    if (accept) begin
        fb_waddr_reg <= out_base_reg[FA_WIDTH-1:0];
    end else if (fb_we) begin
        fb_waddr_reg <= fb_waddr_reg + 1'b1;
    end
end

rtlcnn_sdp_ram #(
    .WIDTH(64),
    .DEPTH(FBUF_DEPTH),
    .ADDR_WIDTH(FA_WIDTH)
)
fbuf_inst (
    .clk(clk),
    .wr_en(fb_we),
    .wr_addr(fb_waddr_reg),
    .wr_data(pk_tdata),
    .rd_en(fb_rd_en || tp_rd_en),
    .rd_addr(fl_taps_reg ? tp_rd_addr : fb_raddr_reg),
    .rd_data(fb_rd_data)
);

// parameter buffer: the requant reads RQ consecutive entries a cycle, so with RQ = 2 it
// is two banks of even and odd entries (the same block RAM in all)
wire pb_rd_en;
wire [PA_WIDTH-1:0] pb_rd_addr;
wire [RQ*72-1:0] pb_rd_data;

generate
    if (RQ == 1) begin : g_pbuf1
        rtlcnn_sdp_ram #(
            .WIDTH(72),
            .DEPTH(PBUF_DEPTH),
            .ADDR_WIDTH(PA_WIDTH)
        )
        pbuf_inst (
            .clk(clk),
            .wr_en(pb_we),
            .wr_addr(p_addr_reg[PA_WIDTH-1:0]),
            .wr_data({s_axis_tdata[7:0], pa_reg}),
            .rd_en(pb_rd_en),
            .rd_addr(pb_rd_addr),
            .rd_data(pb_rd_data)
        );
    end else begin : g_pbuf2
        localparam BDEPTH = PBUF_DEPTH < 4 ? 2 : (PBUF_DEPTH + 1) / 2;
        localparam BA_WIDTH = $clog2(BDEPTH);
        // entry a is in bank a[0] at a >> 1; bank 1 holds lane 0's entry when it is odd
        /* verilator lint_off UNUSEDSIGNAL */  // bit 0 picks the bank; the top bit is past the depth
        wire [PA_WIDTH:0] rd_addr0 = {1'b0, pb_rd_addr};
        wire [PA_WIDTH:0] rd_addr1 = rd_addr0 + 1'b1;
        /* verilator lint_on UNUSEDSIGNAL */
        wire [BA_WIDTH-1:0] bank_rd_addr0 = rd_addr0[0] ? rd_addr1[BA_WIDTH:1] : rd_addr0[BA_WIDTH:1];
        wire [BA_WIDTH-1:0] bank_rd_addr1 = rd_addr0[BA_WIDTH:1];
        wire [71:0] bank_rd_data0, bank_rd_data1;
        reg odd_reg = 1'b0;

        always @(posedge clk) begin
            if (pb_rd_en) begin
                odd_reg <= pb_rd_addr[0];
            end
        end

        assign pb_rd_data = odd_reg ? {bank_rd_data0, bank_rd_data1} : {bank_rd_data1, bank_rd_data0};

        rtlcnn_sdp_ram #(
            .WIDTH(72),
            .DEPTH(BDEPTH),
            .ADDR_WIDTH(BA_WIDTH)
        )
        pbuf0_inst (
            .clk(clk),
            .wr_en(pb_we && !p_addr_reg[0]),
            .wr_addr(p_addr_reg[BA_WIDTH:1]),
            .wr_data({s_axis_tdata[7:0], pa_reg}),
            .rd_en(pb_rd_en),
            .rd_addr(bank_rd_addr0),
            .rd_data(bank_rd_data0)
        );

        rtlcnn_sdp_ram #(
            .WIDTH(72),
            .DEPTH(BDEPTH),
            .ADDR_WIDTH(BA_WIDTH)
        )
        pbuf1_inst (
            .clk(clk),
            .wr_en(pb_we && p_addr_reg[0]),
            .wr_addr(p_addr_reg[BA_WIDTH:1]),
            .wr_data({s_axis_tdata[7:0], pa_reg}),
            .rd_en(pb_rd_en),
            .rd_addr(bank_rd_addr1),
            .rd_data(bank_rd_data1)
        );
    end
endgenerate

// ---------------------------------------------------------------------------------------
// address generation, buffers read, MAC array
// ---------------------------------------------------------------------------------------
wire adv;
wire gen_go = state_reg == STATE_RUN && (in_state_reg == IN_I || in_state_reg == IN_DONE || in_state_reg == IN_DRAIN);
wire ag_valid, ag_pad, ag_first, ag_last, ag_job_last;
wire [IA_WIDTH-1:0] ag_iaddr;
wire [WA_WIDTH-1:0] ag_waddr;
wire [1:0] ag_sub;
wire [NV_WIDTH-1:0] ag_nvalid;
wire [PA_WIDTH-1:0] ag_pbase;
wire signed [17:0] ag_diag;

rtlcnn_addrgen #(
    .P_OC(P_OC),
    .P_IC(P_IC),
    .IA_WIDTH(IA_WIDTH),
    .WA_WIDTH(WA_WIDTH),
    .PA_WIDTH(PA_WIDTH),
    .NV_WIDTH(NV_WIDTH)
)
addrgen_inst (
    .clk(clk),
    .rst(flush && !accept),
    .start(accept),
    .go(gen_go && !add_mode_reg),
    .en(adv),
    .cfg_out_h(c_out_h_reg[15:0]),
    .cfg_out_w(c_out_w_reg[15:0]),
    .cfg_in_h(cfg_in_h[15:0]),
    .cfg_in_w(cfg_in_w[15:0]),
    .cfg_out_c(cfg_out_c[15:0]),
    .cfg_nog(a_nog_reg[15:0]),
    .cfg_icg(a_icg_reg[15:0]),
    .cfg_k(a_k_reg),
    .cfg_kw(a_kw_reg),
    .cfg_pair(a_pair_reg),
    .cfg_s2(a_s2_reg),
    .cfg_pool(a_pool_reg != 2'd0),
    .cfg_pad_top(a_pt_reg),
    .cfg_pad_left(a_pl_reg),
    .cfg_row_words(b_rs_reg[IA_WIDTH:0]),
    .cfg_kkicg(c_kkicg_reg[WA_WIDTH:0]),
    .cfg_wbase(cfg_wbase[WA_WIDTH:0]),
    .cfg_pbase(cfg_pbase[PA_WIDTH:0]),
    .rows_avail(rows_avail_reg),
    .out_valid(ag_valid),
    .out_iaddr(ag_iaddr),
    .out_waddr(ag_waddr),
    .out_pad(ag_pad),
    .out_first(ag_first),
    .out_last(ag_last),
    .out_job_last(ag_job_last),
    .out_sub(ag_sub),
    .out_nvalid(ag_nvalid),
    .out_pbase(ag_pbase),
    .out_diag(ag_diag)
);

// input buffer: rows of one beat (NB words), in two halves that read the same row of each
// (the MAC steps use the half the row's top bit names; ADD reads a and b from both)
wire [63:0] ib_rd_data, ib_rd_data0, ib_rd_data1;
wire [IR_WIDTH-1:0] ib_rd_row = ag_iaddr[IA_WIDTH-1:LOG_NB];
wire add_rd_en;
wire [HR_WIDTH-1:0] add_rd_row;
wire ib_rd_en = add_mode_reg ? add_rd_en : adv;
wire [HR_WIDTH-1:0] ib_rd_addr, ib_wr_addr;
reg ib_half_reg = 1'b0;
generate
    if (IR_WIDTH > 1) begin : g_ib_addr
        assign ib_rd_addr = add_mode_reg ? add_rd_row : ib_rd_row[HR_WIDTH-1:0];
        assign ib_wr_addr = ib_wrow_reg[HR_WIDTH-1:0];
    end else begin : g_ib_addr1
        assign ib_rd_addr = 1'b0;
        assign ib_wr_addr = 1'b0;
    end
endgenerate
always @(posedge clk) begin
    if (ib_rd_en) begin
        ib_half_reg <= ib_rd_row[IR_WIDTH-1];
    end
end
assign ib_rd_data = ib_half_reg ? ib_rd_data1 : ib_rd_data0;

rtlcnn_sdp_ram #(
    .WIDTH(64),
    .DEPTH(HROWS < 2 ? 2 : HROWS),
    .ADDR_WIDTH(HR_WIDTH)
)
ibuf0_inst (
    .clk(clk),
    .wr_en(ib_we && !ib_wrow_reg[IR_WIDTH-1]),
    .wr_addr(ib_wr_addr),
    .wr_data(in_data),
    .rd_en(ib_rd_en),
    .rd_addr(ib_rd_addr),
    .rd_data(ib_rd_data0)
);

rtlcnn_sdp_ram #(
    .WIDTH(64),
    .DEPTH(HROWS < 2 ? 2 : HROWS),
    .ADDR_WIDTH(HR_WIDTH)
)
ibuf1_inst (
    .clk(clk),
    .wr_en(ib_we && ib_wrow_reg[IR_WIDTH-1]),
    .wr_addr(ib_wr_addr),
    .wr_data(in_data),
    .rd_en(ib_rd_en),
    .rd_addr(ib_rd_addr),
    .rd_data(ib_rd_data1)
);

// weight buffer: P_OC banks of P_IC bytes
wire [P_OC*P_IC*8-1:0] wb_rd_data;
genvar gb;
generate
    for (gb = 0; gb < P_OC; gb = gb + 1) begin : g_wbank
        rtlcnn_sdp_ram #(
            .WIDTH(P_IC*8),
            .DEPTH(WBUF_DEPTH),
            .ADDR_WIDTH(WA_WIDTH)
        )
        wbuf_inst (
            .clk(clk),
            .wr_en(wb_we && {16'd0, w_beat_reg} == gb / BANKS_PER_BEAT),
            .wr_addr(w_addr_reg[WA_WIDTH-1:0]),
            .wr_data(s_axis_tdata[(gb % BANKS_PER_BEAT)*P_IC*8 +: P_IC*8]),
            .rd_en(adv),
            .rd_addr(ag_waddr),
            .rd_data(wb_rd_data[gb*P_IC*8 +: P_IC*8])
        );
    end
endgenerate

// step flags aligned with the buffer read data
reg m_valid_reg = 1'b0, m_pad_reg = 1'b0, m_first_reg = 1'b0, m_last_reg = 1'b0;
reg [TAG_WIDTH-1:0] m_tag_reg = {TAG_WIDTH{1'b0}};
reg signed [17:0] m_diag_reg = 18'sd0;
reg [SEL_WIDTH-1:0] m_sel_reg = {SEL_WIDTH{1'b0}};

always @(posedge clk) begin
    if (adv) begin
        m_valid_reg <= ag_valid;
        m_pad_reg <= ag_pad;
        m_first_reg <= ag_first;
        m_last_reg <= ag_last;
        m_tag_reg <= {ag_job_last, ag_sub, ag_nvalid, ag_pbase};
        m_diag_reg <= ag_diag;
        m_sel_reg <= LOG_NB > 0 ? ag_iaddr[SEL_WIDTH-1:0] : {SEL_WIDTH{1'b0}};
    end
    if (flush) begin
        m_valid_reg <= 1'b0;
    end
end

// the MAC operands: input word (zero in the padding), stored or identity weights
wire [P_IC*8-1:0] x_word = ib_rd_data[m_sel_reg*P_IC*8 +: P_IC*8];
reg [P_OC*P_IC*8-1:0] w_word;
integer io, ii;
reg signed [17:0] diag_want;
always @* begin
    diag_want = 18'sd0;
    for (io = 0; io < P_OC; io = io + 1) begin
        for (ii = 0; ii < P_IC; ii = ii + 1) begin
            diag_want = ii[17:0] - io[17:0];
            w_word[(io*P_IC+ii)*8 +: 8] = is_pool_op ? (m_diag_reg == diag_want ? 8'd1 : 8'd0)
                : wb_rd_data[(io*P_IC+ii)*8 +: 8];
        end
    end
end

wire mac_last_pending, mac_step, mac_out_valid;
wire [TAG_WIDTH-1:0] mac_out_tag;
wire [P_OC*32-1:0] mac_out_acc;
wire rq_full;

assign adv = !(mac_last_pending && rq_full);

rtlcnn_mac_array #(
    .P_OC(P_OC),
    .P_IC(P_IC),
    .TAG_WIDTH(TAG_WIDTH),
    .ACC_WIDTH(32)
)
mac_inst (
    .clk(clk),
    .rst(flush),
    .en(adv),
    .in_valid(m_valid_reg),
    .in_first(m_first_reg),
    .in_last(m_last_reg),
    .in_tag(m_tag_reg),
    .in_w(w_word),
    .in_x(m_pad_reg ? {P_IC*8{1'b0}} : x_word),
    .last_pending(mac_last_pending),
    .step_valid(mac_step_valid),
    .out_valid(mac_out_valid),
    .out_tag(mac_out_tag),
    .out_acc(mac_out_acc)
);

wire mac_step_valid;
assign mac_step = mac_step_valid && adv;

// ---------------------------------------------------------------------------------------
// requant, pool, output
// ---------------------------------------------------------------------------------------
wire out_ready;
wire [RQ-1:0] rq_valid;
wire rq_last;
wire [RQ*32-1:0] rq_data;
wire [LANE_WIDTH-1:0] rq_lane;
wire [1:0] rq_sub;

// the requant's bounds, registered (the configuration is stable while BUSY): the clamp
// compares with flip-flops, not with the register file's decode
reg signed [7:0] rq_lo_reg = -8'sd128, rq_hi_reg = 8'sd127;
always @(posedge clk) begin
    rq_lo_reg <= is_pool_op ? -8'sd128 : act_lo;
    rq_hi_reg <= is_pool_op ? 8'sd127 : act_max;
end

rtlcnn_requant #(
    .P_OC(P_OC),
    .PA_WIDTH(PA_WIDTH),
    .NV_WIDTH(NV_WIDTH),
    .LANE_WIDTH(LANE_WIDTH),
    .RQ_LANES(RQ)
)
requant_inst (
    .clk(clk),
    .rst(flush),
    .en(out_ready),
    .cfg_lo(rq_lo_reg),
    .cfg_hi(rq_hi_reg),
    .cfg_int32(op_int32),
    .cfg_bypass(is_pool_op),
    .cfg_pair(a_pair_reg),
    .load(mac_out_valid),
    .load_acc(mac_out_acc),
    .load_nvalid(mac_out_tag[PA_WIDTH +: NV_WIDTH]),
    .load_pbase(mac_out_tag[PA_WIDTH-1:0]),
    .load_sub(mac_out_tag[PA_WIDTH+NV_WIDTH +: 2]),
    .load_job_last(mac_out_tag[TAG_WIDTH-1]),
    .full(rq_full),
    .pb_rd_en(pb_rd_en),
    .pb_rd_addr(pb_rd_addr),
    .pb_rd_data(pb_rd_data),
    .out_valid(rq_valid),
    .out_data(rq_data),
    .out_lane(rq_lane),
    .out_sub(rq_sub),
    .out_last(rq_last)
);

wire [RQ-1:0] pl_valid;
wire pl_last;
wire [RQ*32-1:0] pl_data;

rtlcnn_pool #(
    .P_OC(P_OC),
    .LANE_WIDTH(LANE_WIDTH),
    .RQ_LANES(RQ)
)
pool_inst (
    .clk(clk),
    .rst(flush),
    .en(out_ready),
    .cfg_mode(a_pair_reg ? 2'd0 : a_pool_reg),  // PAIR pools before the requant
    .in_valid(rq_valid),
    .in_data(rq_data),
    .in_lane(rq_lane),
    .in_sub(rq_sub),
    .in_last(rq_last),
    .out_valid(pl_valid),
    .out_data(pl_data),
    .out_last(pl_last)
);

// the ADD op: P_IC values a cycle from both halves of the input buffer
wire add_valid, add_last;
wire [63:0] add_data;
wire [3:0] add_nbytes;
// the values of a pixel's last word: IN_C - (ICG-1)*P_IC
wire [15:0] in_c_rem = cfg_in_c[15:0] & P_IC_M1[15:0];
/* verilator lint_off WIDTH */
wire [3:0] add_last_nv = in_c_rem == 16'd0 ? P_IC : in_c_rem[3:0];
/* verilator lint_on WIDTH */

rtlcnn_add #(
    .P_IC(P_IC),
    .WA_WIDTH(IA_WIDTH - 1),
    .RA_WIDTH(HR_WIDTH)
)
add_inst (
    .clk(clk),
    .rst(flush && !accept),
    .start(accept),
    .go(gen_go && add_mode_reg),
    .en(out_ready),
    .cfg_words(c_iwords_reg[IA_WIDTH-1:0]),
    .cfg_icg(a_icg_reg[15:0]),
    .cfg_last_nv(add_last_nv),
    .cfg_ma(cfg_add_mult[15:0]),
    .cfg_mb(cfg_add_mult[31:16]),
    .cfg_k(add_k),
    .cfg_lo(rq_lo_reg),
    .cfg_hi(rq_hi_reg),
    .rows_b(rows_b_reg),
    .rd_en(add_rd_en),
    .rd_row(add_rd_row),
    .rd_data_a(ib_rd_data0),
    .rd_data_b(ib_rd_data1),
    .step(add_step),
    .out_valid(add_valid),
    .out_data(add_data),
    .out_nbytes(add_nbytes),
    .out_last(add_last)
);

rtlcnn_stream_out #(
    .DATA_WIDTH(64),
    .RQ_LANES(RQ)
)
stream_out_inst (
    .clk(clk),
    .rst(out_flush),
    .cfg_int32(op_int32),
    .cfg_hold_last(cmd_mode_reg && !cmd_last_reg),
    .abort((abort && !out_done_reg) || cmd_abort),
    .in_valid(pl_valid),
    .in_data(pl_data),
    .in_wvalid(add_valid),
    .in_wdata(add_data),
    .in_wbytes(add_nbytes),
    // an ADD job's own last word only: the MAC path's last flag is not cleared after a job
    // (the pool registers it every enabled cycle, valid or not), and the packer acts on
    // in_last with any valid bytes, the ADD's words included
    .in_last(add_mode_reg ? add_last : pl_last),
    .in_ready(out_ready),
    .m_axis_tdata(pk_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tvalid(pk_tvalid),
    .m_axis_tready(pk_tready),
    .m_axis_tlast(pk_tlast),
    .done(out_done)
);

endmodule

`resetall
