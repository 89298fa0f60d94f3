// SPDX-License-Identifier: Apache-2.0
// rtlcnn test bench: rtlcnn_requant with its parameter buffer (write port exposed to the bench)

`resetall
`timescale 1ns / 1ps
`default_nettype none

module tb_requant_wrap #
(
    // Output-channel lanes
    parameter P_OC = 4,
    // Parameter buffer entries
    parameter PBUF_DEPTH = 64
)
(
    input  wire                           clk,
    input  wire                           rst,
    input  wire                           en,
    input  wire signed [7:0]              cfg_lo,
    input  wire signed [7:0]              cfg_hi,
    input  wire                           cfg_int32,
    input  wire                           cfg_bypass,
    input  wire                           load,
    input  wire [P_OC*32-1:0]             load_acc,
    input  wire [$clog2(P_OC):0]          load_nvalid,
    input  wire [$clog2(PBUF_DEPTH)-1:0]  load_pbase,
    input  wire [1:0]                     load_sub,
    input  wire                           load_job_last,
    output wire                           full,
    input  wire                           pb_wr_en,
    input  wire [$clog2(PBUF_DEPTH)-1:0]  pb_wr_addr,
    input  wire [71:0]                    pb_wr_data,
    output wire                           out_valid,
    output wire [31:0]                    out_data,
    output wire [$clog2(P_OC)-1:0]        out_lane,
    output wire [1:0]                     out_sub,
    output wire                           out_last
);

wire pb_rd_en;
wire [$clog2(PBUF_DEPTH)-1:0] pb_rd_addr;
wire [71:0] pb_rd_data;

rtlcnn_sdp_ram #(.WIDTH(72), .DEPTH(PBUF_DEPTH)) pbuf_inst (
    .clk(clk),
    .wr_en(pb_wr_en),
    .wr_addr(pb_wr_addr),
    .wr_data(pb_wr_data),
    .rd_en(pb_rd_en),
    .rd_addr(pb_rd_addr),
    .rd_data(pb_rd_data)
);

rtlcnn_requant #(.P_OC(P_OC), .PA_WIDTH($clog2(PBUF_DEPTH))) requant_inst (
    .clk(clk),
    .rst(rst),
    .en(en),
    .cfg_lo(cfg_lo),
    .cfg_hi(cfg_hi),
    .cfg_int32(cfg_int32),
    .cfg_bypass(cfg_bypass),
    .cfg_pair(1'b0),  // PAIR merging is checked by the top-level tests (tb_top)
    .load(load),
    .load_acc(load_acc),
    .load_nvalid(load_nvalid),
    .load_pbase(load_pbase),
    .load_sub(load_sub),
    .load_job_last(load_job_last),
    .full(full),
    .pb_rd_en(pb_rd_en),
    .pb_rd_addr(pb_rd_addr),
    .pb_rd_data(pb_rd_data),
    .out_valid(out_valid),
    .out_data(out_data),
    .out_lane(out_lane),
    .out_sub(out_sub),
    .out_last(out_last)
);

endmodule

`resetall
