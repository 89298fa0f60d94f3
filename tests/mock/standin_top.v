// SPDX-License-Identifier: Apache-2.0
// Stand-in for rtlcnn_top used to test the mock board infrastructure: the engine's
// ID/parameter registers, CTRL/STATUS and a stream loopback (every input beat is
// echoed on m_axis, TLAST included). Same ports as rtlcnn_top; not the engine.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module rtlcnn_top #
(
    // MAC lanes reported in the P_OC / P_IC registers (no MAC array here)
    parameter P_OC = 4,
    parameter P_IC = 4,
    // buffer depths reported in the parameter registers
    parameter WBUF_DEPTH = 256,
    parameter IBUF_DEPTH = 256,
    parameter PBUF_DEPTH = 64,
    // clock hint in MHz
    parameter CLK_MHZ = 100
)
(
    input  wire        aclk,
    input  wire        aresetn,

    input  wire [11:0] s_axi_ctrl_awaddr,
    input  wire [2:0]  s_axi_ctrl_awprot,
    input  wire        s_axi_ctrl_awvalid,
    output wire        s_axi_ctrl_awready,
    input  wire [31:0] s_axi_ctrl_wdata,
    input  wire [3:0]  s_axi_ctrl_wstrb,
    input  wire        s_axi_ctrl_wvalid,
    output wire        s_axi_ctrl_wready,
    output wire [1:0]  s_axi_ctrl_bresp,
    output wire        s_axi_ctrl_bvalid,
    input  wire        s_axi_ctrl_bready,
    input  wire [11:0] s_axi_ctrl_araddr,
    input  wire [2:0]  s_axi_ctrl_arprot,
    input  wire        s_axi_ctrl_arvalid,
    output wire        s_axi_ctrl_arready,
    output wire [31:0] s_axi_ctrl_rdata,
    output wire [1:0]  s_axi_ctrl_rresp,
    output wire        s_axi_ctrl_rvalid,
    input  wire        s_axi_ctrl_rready,

    input  wire [63:0] s_axis_tdata,
    input  wire [7:0]  s_axis_tkeep,
    input  wire        s_axis_tvalid,
    output wire        s_axis_tready,
    input  wire        s_axis_tlast,

    output wire [63:0] m_axis_tdata,
    output wire [7:0]  m_axis_tkeep,
    output wire        m_axis_tvalid,
    input  wire        m_axis_tready,
    output wire        m_axis_tlast
);

wire rst = !aresetn;

reg        aw_hold = 1'b0, w_hold = 1'b0, b_valid = 1'b0, r_valid = 1'b0;
reg [11:0] aw_addr = 12'd0;
reg [31:0] w_data = 32'd0, r_data = 32'd0;
reg        busy = 1'b0, done = 1'b0;
reg [31:0] cyc_total = 32'd0;
reg [31:0] regs [0:15];   // 0x080..0x0BC, read back as written
reg [63:0] o_data = 64'd0;
reg        o_valid = 1'b0, o_last = 1'b0;
integer i;
initial for (i = 0; i < 16; i = i + 1) regs[i] = 32'd0;

assign s_axi_ctrl_awready = !aw_hold && !b_valid;
assign s_axi_ctrl_wready  = !w_hold && !b_valid;
assign s_axi_ctrl_bresp   = 2'b00;
assign s_axi_ctrl_bvalid  = b_valid;
assign s_axi_ctrl_arready = !r_valid;
assign s_axi_ctrl_rdata   = r_data;
assign s_axi_ctrl_rresp   = 2'b00;
assign s_axi_ctrl_rvalid  = r_valid;

assign s_axis_tready = busy && (!o_valid || m_axis_tready);
assign m_axis_tdata  = o_data;
assign m_axis_tkeep  = 8'hff;
assign m_axis_tvalid = o_valid;
assign m_axis_tlast  = o_last;

function [31:0] rd(input [11:0] a);
    case (a)
        12'h000: rd = 32'h52434E4E;
        12'h004: rd = 32'h00010001;
        12'h008: rd = P_OC;
        12'h00C: rd = P_IC;
        12'h010: rd = WBUF_DEPTH;
        12'h014: rd = IBUF_DEPTH;
        12'h018: rd = PBUF_DEPTH;
        12'h01C: rd = CLK_MHZ;
        12'h020: rd = 7;
        12'h024: rd = 8;
        12'h044: rd = {30'd0, done, busy};
        12'h0C0: rd = cyc_total;
        default: rd = (a >= 12'h080 && a < 12'h0C0) ? regs[a[5:2]] : 32'd0;
    endcase
endfunction

always @(posedge aclk) begin
    if (s_axi_ctrl_awvalid && s_axi_ctrl_awready) begin aw_hold <= 1'b1; aw_addr <= s_axi_ctrl_awaddr; end
    if (s_axi_ctrl_wvalid && s_axi_ctrl_wready) begin w_hold <= 1'b1; w_data <= s_axi_ctrl_wdata; end
    if (aw_hold && w_hold) begin
        aw_hold <= 1'b0;
        w_hold <= 1'b0;
        b_valid <= 1'b1;
        if (aw_addr == 12'h040 && w_data[0] && !busy) begin busy <= 1'b1; done <= 1'b0; cyc_total <= 0; end
        if (aw_addr == 12'h040 && w_data[1]) begin busy <= 1'b0; done <= 1'b0; o_valid <= 1'b0; end
        if (aw_addr >= 12'h080 && aw_addr < 12'h0C0) regs[aw_addr[5:2]] <= w_data;
    end
    if (b_valid && s_axi_ctrl_bready) b_valid <= 1'b0;
    if (s_axi_ctrl_arvalid && s_axi_ctrl_arready) begin r_valid <= 1'b1; r_data <= rd(s_axi_ctrl_araddr); end
    if (r_valid && s_axi_ctrl_rready) r_valid <= 1'b0;

    if (busy) cyc_total <= cyc_total + 1;
    if (o_valid && m_axis_tready) begin
        o_valid <= 1'b0;
        if (o_last) begin busy <= 1'b0; done <= 1'b1; end
    end
    if (s_axis_tvalid && s_axis_tready) begin
        o_valid <= 1'b1;
        o_data <= s_axis_tdata;
        o_last <= s_axis_tlast;
    end

    if (rst) begin
        aw_hold <= 1'b0; w_hold <= 1'b0; b_valid <= 1'b0; r_valid <= 1'b0;
        busy <= 1'b0; done <= 1'b0; o_valid <= 1'b0; o_last <= 1'b0;
    end
end

endmodule

`resetall
