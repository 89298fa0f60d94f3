// SPDX-License-Identifier: Apache-2.0
// rtlcnn: window address generator (k x k kernels, stride 1/2, zero padding, 2x2 pool order)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Walks one job's MAC steps, one per cycle while en is high and the input rows a step
 * needs have arrived (rows_avail):
 *   for py < OUT_H, px < OUT_W               output pixel (after pooling)
 *     for og < NOG                            output-channel group
 *       for sub < (POOL ? (PAIR ? 2 : 4) : 1) conv pixel of the 2x2 pool window
 *         for ky < K, kx < KW, icg < ICG      one MAC step
 * and gives, three cycles later, the input buffer word address, the weight word
 * address, a padding flag and the flags and tag of the step. Conv pixel
 * (oy, ox) = POOL ? (2py + sub[1], 2px + sub[0]) : (py, px), with PAIR (the lanes
 * hold a horizontal pair of pixels, pooled before the requant) (2py + sub, px); input pixel
 * iy = oy*STRIDE - PAD_TOP + ky, ix = ox*STRIDE - PAD_LEFT + kx; word
 * iy*IN_W*ICG + ix*ICG + icg. Weight word WBASE + (og*K*KW + ky*KW + kx)*ICG + icg.
 */
module rtlcnn_addrgen #
(
    // Output-channel lanes
    parameter P_OC = 16,
    // Input-channel lanes
    parameter P_IC = 8,
    // Input buffer word address width
    parameter IA_WIDTH = 12,
    // Weight buffer word address width
    parameter WA_WIDTH = 11,
    // Parameter buffer index width
    parameter PA_WIDTH = 10,
    // Width of the valid-lane count
    parameter NV_WIDTH = $clog2(P_OC) + 1
)
(
    input  wire                   clk,
    input  wire                   rst,

    // start: load the counters for a new job; go: steps may issue; en: pipeline moves
    input  wire                   start,
    input  wire                   go,
    input  wire                   en,

    input  wire [15:0]            cfg_out_h,
    input  wire [15:0]            cfg_out_w,
    input  wire [15:0]            cfg_in_h,
    input  wire [15:0]            cfg_in_w,
    input  wire [15:0]            cfg_out_c,
    input  wire [15:0]            cfg_nog,
    input  wire [15:0]            cfg_icg,
    input  wire [2:0]             cfg_k,
    input  wire [2:0]             cfg_kw,
    input  wire                   cfg_pair,
    input  wire                   cfg_s2,
    input  wire                   cfg_pool,
    input  wire [3:0]             cfg_pad_top,
    input  wire [3:0]             cfg_pad_left,
    input  wire [IA_WIDTH:0]      cfg_row_words,
    input  wire [WA_WIDTH:0]      cfg_kkicg,
    input  wire [WA_WIDTH:0]      cfg_wbase,
    input  wire [PA_WIDTH:0]      cfg_pbase,

    // input rows fully written into the input buffer
    input  wire [15:0]            rows_avail,

    output wire                   out_valid,
    output wire [IA_WIDTH-1:0]    out_iaddr,
    output wire [WA_WIDTH-1:0]    out_waddr,
    output wire                   out_pad,
    output wire                   out_first,
    output wire                   out_last,
    output wire                   out_job_last,
    output wire [1:0]             out_sub,
    output wire [NV_WIDTH-1:0]    out_nvalid,
    output wire [PA_WIDTH-1:0]    out_pbase,
    // og*P_OC - icg*P_IC, for the identity weights of the pool ops
    output wire signed [17:0]     out_diag
);

localparam LOG_PIC = $clog2(P_IC);
/* verilator lint_off WIDTHTRUNC */  // P_OC <= 64 fits
localparam [16:0] P_OC_17 = P_OC;
/* verilator lint_on WIDTHTRUNC */

initial begin
    if ((1 << $clog2(P_OC)) != P_OC || (1 << LOG_PIC) != P_IC) begin
        $error("Error: rtlcnn_addrgen P_OC and P_IC must be powers of two (instance %m)");
        $finish;
    end
end

// loop counters
reg running_reg = 1'b0, running_next;
reg [15:0] py_reg = 16'd0, py_next;
reg [15:0] px_reg = 16'd0, px_next;
reg [15:0] og_reg = 16'd0, og_next;
reg [1:0] sub_reg = 2'd0, sub_next;
reg [2:0] ky_reg = 3'd0, ky_next;
reg [2:0] kx_reg = 3'd0, kx_next;
reg [15:0] icg_reg = 16'd0, icg_next;
reg [WA_WIDTH:0] wog_reg = {WA_WIDTH+1{1'b0}}, wog_next;
reg [WA_WIDTH:0] woff_reg = {WA_WIDTH+1{1'b0}}, woff_next;
reg [16:0] ocbase_reg = 17'd0, ocbase_next;

// stage 1
reg s1_valid_reg = 1'b0;
reg [15:0] s1_iy_reg = 16'd0, s1_ix_reg = 16'd0, s1_icg_reg = 16'd0;
reg [WA_WIDTH:0] s1_waddr_reg = {WA_WIDTH+1{1'b0}};
reg s1_pad_reg = 1'b0, s1_first_reg = 1'b0, s1_last_reg = 1'b0, s1_job_last_reg = 1'b0;
reg [1:0] s1_sub_reg = 2'd0;
reg [NV_WIDTH-1:0] s1_nvalid_reg = {NV_WIDTH{1'b0}};
reg [PA_WIDTH:0] s1_pbase_reg = {PA_WIDTH+1{1'b0}};
reg signed [17:0] s1_diag_reg = 18'sd0;
// stage 2
reg s2_valid_reg = 1'b0;
reg [IA_WIDTH+16:0] s2_row_reg = {IA_WIDTH+17{1'b0}};
reg [IA_WIDTH+16:0] s2_col_reg = {IA_WIDTH+17{1'b0}};
reg [WA_WIDTH:0] s2_waddr_reg = {WA_WIDTH+1{1'b0}};
reg s2_pad_reg = 1'b0, s2_first_reg = 1'b0, s2_last_reg = 1'b0, s2_job_last_reg = 1'b0;
reg [1:0] s2_sub_reg = 2'd0;
reg [NV_WIDTH-1:0] s2_nvalid_reg = {NV_WIDTH{1'b0}};
reg [PA_WIDTH:0] s2_pbase_reg = {PA_WIDTH+1{1'b0}};
reg signed [17:0] s2_diag_reg = 18'sd0;
// stage 3 (outputs)
reg s3_valid_reg = 1'b0;
/* verilator lint_off UNUSEDSIGNAL */  // top bits: addresses are taken modulo the buffer size
reg [IA_WIDTH+16:0] s3_iaddr_reg = {IA_WIDTH+17{1'b0}};
/* verilator lint_on UNUSEDSIGNAL */
/* verilator lint_off UNUSEDSIGNAL */  // top bits: addresses are taken modulo the buffer size
reg [WA_WIDTH:0] s3_waddr_reg = {WA_WIDTH+1{1'b0}};
/* verilator lint_on UNUSEDSIGNAL */
reg s3_pad_reg = 1'b0, s3_first_reg = 1'b0, s3_last_reg = 1'b0, s3_job_last_reg = 1'b0;
reg [1:0] s3_sub_reg = 2'd0;
reg [NV_WIDTH-1:0] s3_nvalid_reg = {NV_WIDTH{1'b0}};
/* verilator lint_off UNUSEDSIGNAL */  // top bits: addresses are taken modulo the buffer size
reg [PA_WIDTH:0] s3_pbase_reg = {PA_WIDTH+1{1'b0}};
/* verilator lint_on UNUSEDSIGNAL */
reg signed [17:0] s3_diag_reg = 18'sd0;

// the current step
wire [16:0] oy = cfg_pool ? {py_reg, cfg_pair ? sub_reg[0] : sub_reg[1]} : {1'b0, py_reg};
wire [16:0] ox = cfg_pool && !cfg_pair ? {px_reg, sub_reg[0]} : {1'b0, px_reg};
wire signed [19:0] iy = $signed({2'b00, cfg_s2 ? {oy, 1'b0} : {1'b0, oy}})
    - $signed({16'd0, cfg_pad_top}) + $signed({17'd0, ky_reg});
wire signed [19:0] ix = $signed({2'b00, cfg_s2 ? {ox, 1'b0} : {1'b0, ox}})
    - $signed({16'd0, cfg_pad_left}) + $signed({17'd0, kx_reg});
wire iy_out = iy < 0 || iy >= $signed({4'd0, cfg_in_h});
wire ix_out = ix < 0 || ix >= $signed({4'd0, cfg_in_w});
wire row_ready = iy_out || iy < $signed({4'd0, rows_avail});

wire last_icg = icg_reg == cfg_icg - 16'd1;
wire last_kx = kx_reg == cfg_kw - 3'd1;
wire last_ky = ky_reg == cfg_k - 3'd1;
wire last_sub = !cfg_pool || sub_reg == (cfg_pair ? 2'd1 : 2'd3);
wire last_og = og_reg == cfg_nog - 16'd1;
wire last_px = px_reg == cfg_out_w - 16'd1;
wire last_py = py_reg == cfg_out_h - 16'd1;
wire step_first = icg_reg == 16'd0 && kx_reg == 3'd0 && ky_reg == 3'd0;
wire step_last = last_icg && last_kx && last_ky;
wire step_job_last = step_last && last_sub && last_og && last_px && last_py;

wire [16:0] oc_rem = {1'b0, cfg_out_c} - ocbase_reg;
wire [NV_WIDTH-1:0] nvalid = oc_rem >= P_OC_17 ? P_OC[NV_WIDTH-1:0] : oc_rem[NV_WIDTH-1:0];

wire fire = running_reg && go && en && row_ready;


assign out_valid = s3_valid_reg;
assign out_iaddr = s3_iaddr_reg[IA_WIDTH-1:0];
assign out_waddr = s3_waddr_reg[WA_WIDTH-1:0];
assign out_pad = s3_pad_reg;
assign out_first = s3_first_reg;
assign out_last = s3_last_reg;
assign out_job_last = s3_job_last_reg;
assign out_sub = s3_sub_reg;
assign out_nvalid = s3_nvalid_reg;
assign out_pbase = s3_pbase_reg[PA_WIDTH-1:0];
assign out_diag = s3_diag_reg;

always @* begin
    running_next = running_reg;
    py_next = py_reg;
    px_next = px_reg;
    og_next = og_reg;
    sub_next = sub_reg;
    ky_next = ky_reg;
    kx_next = kx_reg;
    icg_next = icg_reg;
    wog_next = wog_reg;
    woff_next = woff_reg;
    ocbase_next = ocbase_reg;

    if (start) begin
        running_next = 1'b1;
        py_next = 16'd0;
        px_next = 16'd0;
        og_next = 16'd0;
        sub_next = 2'd0;
        ky_next = 3'd0;
        kx_next = 3'd0;
        icg_next = 16'd0;
        wog_next = cfg_wbase;
        woff_next = {WA_WIDTH+1{1'b0}};
        ocbase_next = 17'd0;
    end else if (fire) begin
        woff_next = woff_reg + 1'b1;
        icg_next = icg_reg + 16'd1;
        if (last_icg) begin
            icg_next = 16'd0;
            kx_next = kx_reg + 3'd1;
            if (last_kx) begin
                kx_next = 3'd0;
                ky_next = ky_reg + 3'd1;
                if (last_ky) begin
                    ky_next = 3'd0;
                    woff_next = {WA_WIDTH+1{1'b0}};
                    sub_next = sub_reg + 2'd1;
                    if (last_sub) begin
                        sub_next = 2'd0;
                        og_next = og_reg + 16'd1;
                        wog_next = wog_reg + cfg_kkicg;
                        ocbase_next = ocbase_reg + P_OC_17;
                        if (last_og) begin
                            og_next = 16'd0;
                            wog_next = cfg_wbase;
                            ocbase_next = 17'd0;
                            px_next = px_reg + 16'd1;
                            if (last_px) begin
                                px_next = 16'd0;
                                py_next = py_reg + 16'd1;
                                if (last_py) begin
                                    running_next = 1'b0;
                                end
                            end
                        end
                    end
                end
            end
        end
    end
end

always @(posedge clk) begin
    running_reg <= running_next;
    py_reg <= py_next;
    px_reg <= px_next;
    og_reg <= og_next;
    sub_reg <= sub_next;
    ky_reg <= ky_next;
    kx_reg <= kx_next;
    icg_reg <= icg_next;
    wog_reg <= wog_next;
    woff_reg <= woff_next;
    ocbase_reg <= ocbase_next;

    if (en) begin
        s1_valid_reg <= fire;
        s1_iy_reg <= (iy_out || ix_out) ? 16'd0 : iy[15:0];
        s1_ix_reg <= (iy_out || ix_out) ? 16'd0 : ix[15:0];
        s1_icg_reg <= icg_reg;
        s1_waddr_reg <= wog_reg + woff_reg;
        s1_pad_reg <= iy_out || ix_out;
        s1_first_reg <= step_first;
        s1_last_reg <= step_last;
        s1_job_last_reg <= step_job_last;
        s1_sub_reg <= sub_reg;
        s1_nvalid_reg <= nvalid;
        s1_pbase_reg <= cfg_pbase + ocbase_reg[PA_WIDTH:0];
        s1_diag_reg <= $signed({1'b0, ocbase_reg}) - $signed({2'b00, icg_reg} << LOG_PIC);

        s2_valid_reg <= s1_valid_reg;
        s2_row_reg <= s1_iy_reg * cfg_row_words;
        s2_col_reg <= s1_ix_reg * cfg_icg[IA_WIDTH:0] + {{IA_WIDTH+1{1'b0}}, s1_icg_reg};
        s2_waddr_reg <= s1_waddr_reg;
        s2_pad_reg <= s1_pad_reg;
        s2_first_reg <= s1_first_reg;
        s2_last_reg <= s1_last_reg;
        s2_job_last_reg <= s1_job_last_reg;
        s2_sub_reg <= s1_sub_reg;
        s2_nvalid_reg <= s1_nvalid_reg;
        s2_pbase_reg <= s1_pbase_reg;
        s2_diag_reg <= s1_diag_reg;

        s3_valid_reg <= s2_valid_reg;
        s3_iaddr_reg <= s2_row_reg + s2_col_reg;
        s3_waddr_reg <= s2_waddr_reg;
        s3_pad_reg <= s2_pad_reg;
        s3_first_reg <= s2_first_reg;
        s3_last_reg <= s2_last_reg;
        s3_job_last_reg <= s2_job_last_reg;
        s3_sub_reg <= s2_sub_reg;
        s3_nvalid_reg <= s2_nvalid_reg;
        s3_pbase_reg <= s2_pbase_reg;
        s3_diag_reg <= s2_diag_reg;
    end

    if (rst) begin
        running_reg <= 1'b0;
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
