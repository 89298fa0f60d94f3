// SPDX-License-Identifier: Apache-2.0
// rtlcnn: the residual ADD op: two int8 maps from the input buffer, rescaled, summed, rounded once, clamped

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * The ADD op (version 1.4, docs/engine.md): y = clamp((a*Ma + b*Mb + 2^(k-1)) >>> k, lo, hi)
 * per value, P_IC values (one input-buffer word of each operand) a cycle. Operand a is in
 * the input buffer's lower half, b in its upper half, word i of both at row i >> log2(NB)
 * of their half (a row of the buffer is one 64-bit beat of NB = 8/P_IC words), so one read
 * address serves both halves: rd_data_a and rd_data_b are the two halves' read data.
 *
 * Word i is issued when b's row holding it has been written (rows_b), a's rows come before
 * b's in the stream. Ma, Mb are unsigned 16 bit, so |a*Ma| < 2^23, the sum fits 25 bits
 * signed and each product one DSP48 multiplier; k > 25 gives 0 before the clamp (the sum
 * plus 2^(k-1) is then in [0, 2^k)), so the shift is by min(k, 26).
 *
 * Pipeline (everything moves only with en, the output packer's ready): issue -> buffer read
 * (1) -> operand select (2) -> products (3) -> sum + 2^(k-1) (4) -> shift (5) -> clamp
 * (6) -> out_*. out_data holds the word's out_nbytes valid bytes low (the channels of the
 * last word of a pixel beyond IN_C are dropped), zero above; out_last marks the job's last
 * word. start (a new job) and rst clear it.
 */
module rtlcnn_add #
(
    // values per word (the MAC array's P_IC: 1, 2, 4 or 8)
    parameter P_IC = 8,
    // width of a word index within one operand (IBUF_DEPTH/2 words)
    parameter WA_WIDTH = 11,
    // width of a row index within one half of the buffer
    parameter RA_WIDTH = 11
)
(
    input  wire                   clk,
    input  wire                   rst,

    input  wire                   start,
    input  wire                   go,
    input  wire                   en,

    // words of each operand: IN_H * IN_W * ICG (at least 1)
    input  wire [WA_WIDTH:0]      cfg_words,
    // ICG, and the valid values of a pixel's last word (IN_C - (ICG-1)*P_IC, 1..P_IC)
    input  wire [15:0]            cfg_icg,
    input  wire [3:0]             cfg_last_nv,
    input  wire [15:0]            cfg_ma,
    input  wire [15:0]            cfg_mb,
    input  wire [5:0]             cfg_k,
    input  wire signed [7:0]      cfg_lo,
    input  wire signed [7:0]      cfg_hi,

    // rows of b written so far
    input  wire [RA_WIDTH:0]      rows_b,

    output wire                   rd_en,
    output wire [RA_WIDTH-1:0]    rd_row,
    input  wire [63:0]            rd_data_a,
    input  wire [63:0]            rd_data_b,

    // a step issued this cycle (CYC_MAC)
    output wire                   step,

    output wire                   out_valid,
    output wire [63:0]            out_data,
    output wire [3:0]             out_nbytes,
    output wire                   out_last
);

localparam NB = 8 / P_IC;
localparam LOG_NB = $clog2(NB);
localparam SEL_WIDTH = LOG_NB > 0 ? LOG_NB : 1;
/* verilator lint_off WIDTH */
localparam [3:0] P_IC_4 = P_IC;
/* verilator lint_on WIDTH */

initial begin
    if (P_IC != 1 && P_IC != 2 && P_IC != 4 && P_IC != 8) begin
        $error("Error: rtlcnn_add P_IC must be 1, 2, 4 or 8 (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------------------------------
// issue: word index, its channel group
// ---------------------------------------------------------------------------------------
reg [WA_WIDTH:0] wi_reg = {WA_WIDTH+1{1'b0}};
reg [15:0] icg_reg = 16'd0;

// a word's row: the index without its word-in-row bits (both compared in 17 bits)
/* verilator lint_off WIDTH */
wire [16:0] wrow = wi_reg >> LOG_NB;
wire [16:0] rows_b_17 = rows_b;
/* verilator lint_on WIDTH */
wire issue = go && en && wi_reg < cfg_words && rows_b_17 > wrow;
wire icg_last = icg_reg == cfg_icg - 16'd1;

assign rd_en = en;
assign rd_row = wrow[RA_WIDTH-1:0];
assign step = issue;

always @(posedge clk) begin
    if (issue) begin
        wi_reg <= wi_reg + 1'b1;
        icg_reg <= icg_last ? 16'd0 : icg_reg + 16'd1;
    end
    if (rst || start) begin
        wi_reg <= {WA_WIDTH+1{1'b0}};
        icg_reg <= 16'd0;
    end
end

// ---------------------------------------------------------------------------------------
// the pipeline
// ---------------------------------------------------------------------------------------
// bounds and the rounding constant, registered (the configuration is stable while BUSY)
wire [4:0] ke = cfg_k > 6'd26 ? 5'd26 : cfg_k[4:0];
reg [4:0] ke_reg = 5'd1;
reg signed [26:0] rnd_reg = 27'sd0;
reg signed [7:0] lo_reg = -8'sd128, hi_reg = 8'sd127;
reg [16:0] ma_reg = 17'd0, mb_reg = 17'd0;
wire signed [26:0] lo_27 = {{19{lo_reg[7]}}, lo_reg};
wire signed [26:0] hi_27 = {{19{hi_reg[7]}}, hi_reg};
always @(posedge clk) begin
    ke_reg <= ke == 5'd0 ? 5'd1 : ke;
    rnd_reg <= ke == 5'd0 ? 27'sd0 : 27'sd1 <<< (ke - 5'd1);
    lo_reg <= cfg_lo;
    hi_reg <= cfg_hi;
    ma_reg <= {1'b0, cfg_ma};
    mb_reg <= {1'b0, cfg_mb};
end

// stage flags: valid, valid values of the word, last word of the job
reg [5:0] v_reg = 6'd0;
reg [3:0] nv_reg [0:5];
reg [5:0] last_reg = 6'd0;
reg [SEL_WIDTH-1:0] sel_reg = {SEL_WIDTH{1'b0}};
integer s;
initial begin
    for (s = 0; s < 6; s = s + 1) begin
        nv_reg[s] = 4'd0;
    end
end

always @(posedge clk) begin
    if (en) begin
        v_reg <= {v_reg[4:0], issue};
        last_reg <= {last_reg[4:0], wi_reg == cfg_words - 1'b1};
        nv_reg[0] <= icg_last ? cfg_last_nv : P_IC_4;
        for (s = 1; s < 6; s = s + 1) begin
            nv_reg[s] <= nv_reg[s-1];
        end
        sel_reg <= LOG_NB > 0 ? wi_reg[SEL_WIDTH-1:0] : {SEL_WIDTH{1'b0}};
    end
    if (rst || start) begin
        v_reg <= 6'd0;
    end
end

// stage 2: the operands' words
wire [P_IC*8-1:0] word_a = rd_data_a[sel_reg*P_IC*8 +: P_IC*8];
wire [P_IC*8-1:0] word_b = rd_data_b[sel_reg*P_IC*8 +: P_IC*8];
reg [P_IC*8-1:0] xa_reg = {P_IC*8{1'b0}}, xb_reg = {P_IC*8{1'b0}};
always @(posedge clk) begin
    if (en) begin
        xa_reg <= word_a;
        xb_reg <= word_b;
    end
end

// stages 3..6, one lane per value
wire [63:0] y_all;
genvar l;
generate
    if (P_IC < 8) begin : g_hi
        assign y_all[63:P_IC*8] = {64-P_IC*8{1'b0}};
    end
    for (l = 0; l < P_IC; l = l + 1) begin : g_lane
        reg signed [24:0] pa_reg = 25'sd0, pb_reg = 25'sd0;
        reg signed [26:0] sum_reg = 27'sd0;
        reg signed [26:0] sh_reg = 27'sd0;
        reg [7:0] y_reg = 8'd0;
        wire signed [7:0] a8 = xa_reg[l*8 +: 8];
        wire signed [7:0] b8 = xb_reg[l*8 +: 8];
        always @(posedge clk) begin
            if (en) begin
                pa_reg <= a8 * $signed(ma_reg);
                pb_reg <= b8 * $signed(mb_reg);
                sum_reg <= {{2{pa_reg[24]}}, pa_reg} + {{2{pb_reg[24]}}, pb_reg} + rnd_reg;
                sh_reg <= sum_reg >>> ke_reg;
                if (sh_reg > hi_27) begin
                    y_reg <= hi_reg;
                end else if (sh_reg < lo_27) begin
                    y_reg <= lo_reg;
                end else begin
                    y_reg <= sh_reg[7:0];
                end
            end
        end
        assign y_all[l*8 +: 8] = y_reg;
    end
endgenerate

// the bytes of values beyond the word's valid ones: zero (the packer ORs words together)
reg [63:0] mask;
integer m;
always @* begin
    mask = 64'd0;
    for (m = 0; m < P_IC; m = m + 1) begin
        if (m < nv_reg[5]) begin
            mask[m*8 +: 8] = 8'hFF;
        end
    end
end

assign out_valid = v_reg[5];
assign out_data = y_all & mask;
assign out_nbytes = nv_reg[5];
assign out_last = v_reg[5] && last_reg[5];

endmodule

`resetall
