// SPDX-License-Identifier: Apache-2.0
// rtlcnn: simple dual-port RAM (one write port, one registered read port), inferred as block RAM

`resetall
`timescale 1ns / 1ps
`default_nettype none

module rtlcnn_sdp_ram #
(
    // Word width in bits
    parameter WIDTH = 64,
    // Number of words
    parameter DEPTH = 1024,
    // Address width
    parameter ADDR_WIDTH = $clog2(DEPTH)
)
(
    input  wire                   clk,

    input  wire                   wr_en,
    input  wire [ADDR_WIDTH-1:0]  wr_addr,
    input  wire [WIDTH-1:0]       wr_data,

    // rd_data follows rd_addr one cycle after a cycle with rd_en; it holds otherwise
    input  wire                   rd_en,
    input  wire [ADDR_WIDTH-1:0]  rd_addr,
    output wire [WIDTH-1:0]       rd_data
);

initial begin
    if (DEPTH < 2 || (1 << ADDR_WIDTH) < DEPTH) begin
        $error("Error: rtlcnn_sdp_ram DEPTH must be >= 2 and fit ADDR_WIDTH (instance %m)");
        $finish;
    end
end

(* ram_style = "block" *)
reg [WIDTH-1:0] mem [0:DEPTH-1];
reg [WIDTH-1:0] rd_data_reg = {WIDTH{1'b0}};

assign rd_data = rd_data_reg;

always @(posedge clk) begin
    if (wr_en) begin
        mem[wr_addr] <= wr_data;
    end
    if (rd_en) begin
        rd_data_reg <= mem[rd_addr];
    end
end

endmodule

`resetall
