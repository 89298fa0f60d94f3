// SPDX-License-Identifier: Apache-2.0
// rtlcnn: block-design top of the layer engine (aclk/aresetn, s_axi_ctrl, s_axis, m_axis)

`resetall
`timescale 1ns / 1ps
`default_nettype none

module rtlcnn_top #
(
    // Output-channel lanes of the MAC array (power of two)
    parameter P_OC = 16,
    // Input-channel lanes of the MAC array: 1, 2, 4 or 8
    parameter P_IC = 8,
    // Weight buffer depth in words of P_OC*P_IC int8
    parameter WBUF_DEPTH = 2048,
    // Input buffer depth in words of P_IC int8 (power of two)
    parameter IBUF_DEPTH = 4096,
    // Parameter buffer entries (one per output channel)
    parameter PBUF_DEPTH = 1024,
    // Clock the build is made for, in MHz (a hint for the driver)
    parameter CLK_MHZ = 100,
    // Values per cycle through requant, pool and output packer: 1 or 2 (register RQ_LANES)
    parameter RQ_LANES = 2,
    // On-chip feature buffer depth in 64-bit beats (register FBUF_DEPTH; command streams)
    parameter FBUF_DEPTH = 8192
)
(
    // Clock and reset interfaces of the block-design module reference (UG994, "Inferring
    // Control Signals in a RTL Module"): every AXI interface is associated with aclk, aclk
    // with its reset, and aresetn is active low. The names are those of the overlay
    // description (driver/board/overlay_spec.txt: accel.clk_pin, accel.resetn_pin,
    // accel.ctrl_intf, accel.in_intf, accel.out_intf); tests/overlay compares them.
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axi_ctrl:s_axis:m_axis, ASSOCIATED_RESET aresetn" *)
    input  wire          aclk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire          aresetn,

    input  wire [11:0]   s_axi_ctrl_awaddr,
    input  wire [2:0]    s_axi_ctrl_awprot,
    input  wire          s_axi_ctrl_awvalid,
    output wire          s_axi_ctrl_awready,
    input  wire [31:0]   s_axi_ctrl_wdata,
    input  wire [3:0]    s_axi_ctrl_wstrb,
    input  wire          s_axi_ctrl_wvalid,
    output wire          s_axi_ctrl_wready,
    output wire [1:0]    s_axi_ctrl_bresp,
    output wire          s_axi_ctrl_bvalid,
    input  wire          s_axi_ctrl_bready,
    input  wire [11:0]   s_axi_ctrl_araddr,
    input  wire [2:0]    s_axi_ctrl_arprot,
    input  wire          s_axi_ctrl_arvalid,
    output wire          s_axi_ctrl_arready,
    output wire [31:0]   s_axi_ctrl_rdata,
    output wire [1:0]    s_axi_ctrl_rresp,
    output wire          s_axi_ctrl_rvalid,
    input  wire          s_axi_ctrl_rready,

    input  wire [63:0]   s_axis_tdata,
    input  wire [7:0]    s_axis_tkeep,
    input  wire          s_axis_tvalid,
    output wire          s_axis_tready,
    input  wire          s_axis_tlast,

    output wire [63:0]   m_axis_tdata,
    output wire [7:0]    m_axis_tkeep,
    output wire          m_axis_tvalid,
    input  wire          m_axis_tready,
    output wire          m_axis_tlast
);

// synchronous active-high reset for the core
reg rst_reg = 1'b1;

always @(posedge aclk) begin
    rst_reg <= !aresetn;
end

rtlcnn_engine #(
    .P_OC(P_OC),
    .P_IC(P_IC),
    .WBUF_DEPTH(WBUF_DEPTH),
    .IBUF_DEPTH(IBUF_DEPTH),
    .PBUF_DEPTH(PBUF_DEPTH),
    .CLK_MHZ(CLK_MHZ),
    .RQ_LANES(RQ_LANES),
    .FBUF_DEPTH(FBUF_DEPTH),
    .AXIL_ADDR_WIDTH(12)
)
engine_inst (
    .clk(aclk),
    .rst(rst_reg),
    .s_axil_awaddr(s_axi_ctrl_awaddr),
    .s_axil_awprot(s_axi_ctrl_awprot),
    .s_axil_awvalid(s_axi_ctrl_awvalid),
    .s_axil_awready(s_axi_ctrl_awready),
    .s_axil_wdata(s_axi_ctrl_wdata),
    .s_axil_wstrb(s_axi_ctrl_wstrb),
    .s_axil_wvalid(s_axi_ctrl_wvalid),
    .s_axil_wready(s_axi_ctrl_wready),
    .s_axil_bresp(s_axi_ctrl_bresp),
    .s_axil_bvalid(s_axi_ctrl_bvalid),
    .s_axil_bready(s_axi_ctrl_bready),
    .s_axil_araddr(s_axi_ctrl_araddr),
    .s_axil_arprot(s_axi_ctrl_arprot),
    .s_axil_arvalid(s_axi_ctrl_arvalid),
    .s_axil_arready(s_axi_ctrl_arready),
    .s_axil_rdata(s_axi_ctrl_rdata),
    .s_axil_rresp(s_axi_ctrl_rresp),
    .s_axil_rvalid(s_axi_ctrl_rvalid),
    .s_axil_rready(s_axi_ctrl_rready),
    .s_axis_tdata(s_axis_tdata),
    .s_axis_tkeep(s_axis_tkeep),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .s_axis_tlast(s_axis_tlast),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast)
);

endmodule

`resetall
