// SPDX-License-Identifier: Apache-2.0
// rtlcnn: fused 2x2 max / average pooling of the requant output

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Values arrive lane by lane (RQ_LANES lanes per cycle: in_lane + r for in_valid[r])
 * for conv pixels sub = 0, 1, 2, 3 of one 2x2 window (the address generator's pooling
 * order). Per lane the unit keeps the running max or sum; with sub = 3 it emits max, or
 * (a+b+c+d+2) >>> 2. MODE 0 passes every value through (32 bits, for OUT_INT32). One
 * cycle of latency; moves only with en.
 */
module rtlcnn_pool #
(
    // Lanes (output channels per group)
    parameter P_OC = 16,
    // Lane index width
    parameter LANE_WIDTH = P_OC > 1 ? $clog2(P_OC) : 1,
    // Values per cycle: 1 or 2 (at most P_OC)
    parameter RQ_LANES = 1
)
(
    input  wire                       clk,
    input  wire                       rst,

    input  wire                       en,
    // 0 none, 1 max, 2 average
    input  wire [1:0]                 cfg_mode,

    input  wire [RQ_LANES-1:0]        in_valid,
    input  wire [RQ_LANES*32-1:0]     in_data,
    input  wire [LANE_WIDTH-1:0]      in_lane,
    input  wire [1:0]                 in_sub,
    input  wire                       in_last,

    output wire [RQ_LANES-1:0]        out_valid,
    output wire [RQ_LANES*32-1:0]     out_data,
    output wire                       out_last
);

initial begin
    if (P_OC < 1) begin
        $error("Error: rtlcnn_pool P_OC must be >= 1 (instance %m)");
        $finish;
    end
    if ((RQ_LANES != 1 && RQ_LANES != 2) || RQ_LANES > P_OC) begin
        $error("Error: rtlcnn_pool RQ_LANES must be 1 or 2, at most P_OC (instance %m)");
        $finish;
    end
end

reg signed [9:0] st_reg [0:P_OC-1];
reg [RQ_LANES-1:0] out_valid_reg = {RQ_LANES{1'b0}};
reg [RQ_LANES*32-1:0] out_data_reg = {RQ_LANES*32{1'b0}};
reg out_last_reg = 1'b0;

wire emit = cfg_mode == 2'd0 || in_sub == 2'd3;

integer n;
initial begin
    for (n = 0; n < P_OC; n = n + 1) begin
        st_reg[n] = 10'sd0;
    end
end

assign out_valid = out_valid_reg;
assign out_data = out_data_reg;
assign out_last = out_last_reg;

// per lane of the cycle: new state and output value
wire [RQ_LANES*LANE_WIDTH-1:0] lane_all;
wire [RQ_LANES*10-1:0] acc_all;
wire [RQ_LANES*32-1:0] res_all;

genvar gr;
generate
    for (gr = 0; gr < RQ_LANES; gr = gr + 1) begin : g_lane
        /* verilator lint_off WIDTH */  // in_lane + gr stays below P_OC for a valid value
        wire [LANE_WIDTH-1:0] lane = in_lane + gr;
        /* verilator lint_on WIDTH */
        /* verilator lint_off UNUSEDSIGNAL */  // pooling uses the int8 value in bits 7:0
        wire [31:0] d = in_data[gr*32 +: 32];
        /* verilator lint_on UNUSEDSIGNAL */
        wire signed [9:0] v = {{2{d[7]}}, d[7:0]};
        wire signed [9:0] cur = st_reg[lane];
        wire signed [9:0] acc = (in_sub == 2'd0) ? v
            : (cfg_mode == 2'd1) ? ((v > cur) ? v : cur)
            : cur + v;
        wire signed [9:0] avg = (acc + 10'sd2) >>> 2;

        assign lane_all[gr*LANE_WIDTH +: LANE_WIDTH] = lane;
        assign acc_all[gr*10 +: 10] = acc;
        assign res_all[gr*32 +: 32] = cfg_mode == 2'd0 ? d
            : cfg_mode == 2'd1 ? {{22{acc[9]}}, acc} : {{22{avg[9]}}, avg};
    end
endgenerate

integer r;
always @(posedge clk) begin
    if (en) begin
        for (r = 0; r < RQ_LANES; r = r + 1) begin
            if (in_valid[r] && cfg_mode != 2'd0) begin
                st_reg[lane_all[r*LANE_WIDTH +: LANE_WIDTH]] <= acc_all[r*10 +: 10];
            end
        end
        out_valid_reg <= emit ? in_valid : {RQ_LANES{1'b0}};
        out_data_reg <= res_all;
        out_last_reg <= in_last;
    end

    if (rst) begin
        out_valid_reg <= {RQ_LANES{1'b0}};
        out_last_reg <= 1'b0;
    end
end

endmodule

`resetall
