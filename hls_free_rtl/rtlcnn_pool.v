// SPDX-License-Identifier: Apache-2.0
// rtlcnn: fused 2x2 max / average pooling of the serial requant output

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Values arrive lane by lane for conv pixels sub = 0, 1, 2, 3 of one 2x2 window (the
 * address generator's pooling order). Per lane the unit keeps the running max or sum;
 * with sub = 3 it emits max, or (a+b+c+d+2) >>> 2. MODE 0 passes every value through
 * (32 bits, for OUT_INT32). One cycle of latency; moves only with en.
 */
module rtlcnn_pool #
(
    // Lanes (output channels per group)
    parameter P_OC = 16,
    // Lane index width
    parameter LANE_WIDTH = P_OC > 1 ? $clog2(P_OC) : 1
)
(
    input  wire                    clk,
    input  wire                    rst,

    input  wire                    en,
    // 0 none, 1 max, 2 average
    input  wire [1:0]              cfg_mode,

    input  wire                    in_valid,
    input  wire [31:0]             in_data,
    input  wire [LANE_WIDTH-1:0]   in_lane,
    input  wire [1:0]              in_sub,
    input  wire                    in_last,

    output wire                    out_valid,
    output wire [31:0]             out_data,
    output wire                    out_last
);

initial begin
    if (P_OC < 1) begin
        $error("Error: rtlcnn_pool P_OC must be >= 1 (instance %m)");
        $finish;
    end
end

reg signed [9:0] st_reg [0:P_OC-1];
reg out_valid_reg = 1'b0;
reg [31:0] out_data_reg = 32'd0;
reg out_last_reg = 1'b0;

wire signed [9:0] v = {{2{in_data[7]}}, in_data[7:0]};
wire signed [9:0] cur = st_reg[in_lane];
wire signed [9:0] acc = (in_sub == 2'd0) ? v
    : (cfg_mode == 2'd1) ? ((v > cur) ? v : cur)
    : cur + v;
wire signed [9:0] avg = (acc + 10'sd2) >>> 2;
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

always @(posedge clk) begin
    if (en) begin
        if (in_valid && cfg_mode != 2'd0) begin
            st_reg[in_lane] <= acc;
        end
        out_valid_reg <= in_valid && emit;
        out_last_reg <= in_last;
        if (cfg_mode == 2'd0) begin
            out_data_reg <= in_data;
        end else if (cfg_mode == 2'd1) begin
            out_data_reg <= {{22{acc[9]}}, acc};
        end else begin
            out_data_reg <= {{22{avg[9]}}, avg};
        end
    end

    if (rst) begin
        out_valid_reg <= 1'b0;
        out_last_reg <= 1'b0;
    end
end

endmodule

`resetall
