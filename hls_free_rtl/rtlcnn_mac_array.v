// SPDX-License-Identifier: Apache-2.0
// rtlcnn: P_OC x P_IC int8 multiply-accumulate array with int32 accumulators (DSP48-friendly pipeline)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * One step per cycle while en is high: every lane o adds sum_i w[o][i] * x[i] to its
 * accumulator. in_first starts a new sum (the accumulator restarts from zero), in_last
 * ends it: out_valid then pulses with the finished accumulators (out_acc) and the tag
 * the step carried. Pipeline: A/B registers, product register, lane sum, accumulator
 * (4 cycles from in_* to out_*). Everything, valid bits included, moves only with en.
 * last_pending says the step about to reach the accumulator ends a sum, so a consumer
 * that cannot take out_acc now can hold en low.
 */
module rtlcnn_mac_array #
(
    // Output-channel lanes
    parameter P_OC = 16,
    // Input-channel lanes
    parameter P_IC = 8,
    // Width of the tag carried with each step
    parameter TAG_WIDTH = 8,
    // Accumulator width
    parameter ACC_WIDTH = 32
)
(
    input  wire                        clk,
    input  wire                        rst,

    input  wire                        en,
    input  wire                        in_valid,
    input  wire                        in_first,
    input  wire                        in_last,
    input  wire [TAG_WIDTH-1:0]        in_tag,
    // weight byte o*P_IC + i
    input  wire [P_OC*P_IC*8-1:0]      in_w,
    // input byte i
    input  wire [P_IC*8-1:0]           in_x,

    output wire                        last_pending,
    output wire                        step_valid,
    output wire                        out_valid,
    output wire [TAG_WIDTH-1:0]        out_tag,
    output wire [P_OC*ACC_WIDTH-1:0]   out_acc
);

localparam SUM_WIDTH = 16 + $clog2(P_IC) + 1;

initial begin
    if (P_OC < 1 || P_IC < 1) begin
        $error("Error: rtlcnn_mac_array P_OC and P_IC must be >= 1 (instance %m)");
        $finish;
    end
    if (ACC_WIDTH < SUM_WIDTH) begin
        $error("Error: rtlcnn_mac_array ACC_WIDTH too small (instance %m)");
        $finish;
    end
end

// stage 1: multiplier input registers
reg s1_valid_reg = 1'b0, s1_first_reg = 1'b0, s1_last_reg = 1'b0;
reg [TAG_WIDTH-1:0] s1_tag_reg = {TAG_WIDTH{1'b0}};
reg [P_OC*P_IC*8-1:0] s1_w_reg = {P_OC*P_IC*8{1'b0}};
reg [P_IC*8-1:0] s1_x_reg = {P_IC*8{1'b0}};
// stage 2: product registers
reg s2_valid_reg = 1'b0, s2_first_reg = 1'b0, s2_last_reg = 1'b0;
reg [TAG_WIDTH-1:0] s2_tag_reg = {TAG_WIDTH{1'b0}};
reg [P_OC*P_IC*16-1:0] s2_prod_reg = {P_OC*P_IC*16{1'b0}};
// stage 3: lane sums
reg s3_valid_reg = 1'b0, s3_first_reg = 1'b0, s3_last_reg = 1'b0;
reg [TAG_WIDTH-1:0] s3_tag_reg = {TAG_WIDTH{1'b0}};
reg [P_OC*SUM_WIDTH-1:0] s3_sum_reg = {P_OC*SUM_WIDTH{1'b0}};
// stage 4: accumulators
reg [P_OC*ACC_WIDTH-1:0] acc_reg = {P_OC*ACC_WIDTH{1'b0}};

reg [P_OC*SUM_WIDTH-1:0] sum_next;
reg [P_OC*ACC_WIDTH-1:0] acc_next;

integer o, i;

always @* begin
    for (o = 0; o < P_OC; o = o + 1) begin
        sum_next[o*SUM_WIDTH +: SUM_WIDTH] = {SUM_WIDTH{1'b0}};
        for (i = 0; i < P_IC; i = i + 1) begin
            sum_next[o*SUM_WIDTH +: SUM_WIDTH] = sum_next[o*SUM_WIDTH +: SUM_WIDTH]
                + {{SUM_WIDTH-16{s2_prod_reg[(o*P_IC+i)*16+15]}}, s2_prod_reg[(o*P_IC+i)*16 +: 16]};
        end
        acc_next[o*ACC_WIDTH +: ACC_WIDTH] = (s3_first_reg ? {ACC_WIDTH{1'b0}} : acc_reg[o*ACC_WIDTH +: ACC_WIDTH])
            + {{ACC_WIDTH-SUM_WIDTH{s3_sum_reg[o*SUM_WIDTH+SUM_WIDTH-1]}}, s3_sum_reg[o*SUM_WIDTH +: SUM_WIDTH]};
    end
end

// the multipliers: one signed 8x8 product per lane pair, registered (maps to DSP48 AREG/BREG/MREG)
genvar go, gi;
generate
    for (go = 0; go < P_OC; go = go + 1) begin : g_oc
        for (gi = 0; gi < P_IC; gi = gi + 1) begin : g_ic
            wire signed [7:0] a = s1_w_reg[(go*P_IC+gi)*8 +: 8];
            wire signed [7:0] b = s1_x_reg[gi*8 +: 8];
            always @(posedge clk) begin
                if (en) begin
                    s2_prod_reg[(go*P_IC+gi)*16 +: 16] <= a * b;
                end
            end
        end
    end
endgenerate

assign last_pending = s3_valid_reg && s3_last_reg;
assign step_valid = s3_valid_reg;
assign out_valid = en && s3_valid_reg && s3_last_reg;
assign out_tag = s3_tag_reg;
assign out_acc = acc_next;

always @(posedge clk) begin
    if (en) begin
        s1_valid_reg <= in_valid;
        s1_first_reg <= in_first;
        s1_last_reg <= in_last;
        s1_tag_reg <= in_tag;
        s1_w_reg <= in_w;
        s1_x_reg <= in_x;

        s2_valid_reg <= s1_valid_reg;
        s2_first_reg <= s1_first_reg;
        s2_last_reg <= s1_last_reg;
        s2_tag_reg <= s1_tag_reg;

        s3_valid_reg <= s2_valid_reg;
        s3_first_reg <= s2_first_reg;
        s3_last_reg <= s2_last_reg;
        s3_tag_reg <= s2_tag_reg;
        s3_sum_reg <= sum_next;

        if (s3_valid_reg) begin
            acc_reg <= acc_next;
        end
    end

    if (rst) begin
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
