// SPDX-License-Identifier: Apache-2.0
// Mock-board top: rtlcnn_top plus the stream ends of the DMA model as Verilog buffers, so
// the simulator moves stream beats at full speed with no Python per clock cycle.
`resetall
`timescale 1ns / 1ps
`default_nettype none

// The DMA model in Python (rtlcnn/mock/server.py) hands over one segment at a time:
// MM2S: it writes the segment's beats to mm2s.hex (one 64-bit hex word a line) in the
//   simulator's working folder, sets mm2s_count / mm2s_tlast / mm2s_last_keep and
//   pulses mm2s_start for one cycle; the buffer loads the file and streams the beats
//   into s_axis (TLAST on the last beat when mm2s_tlast), then drops mm2s_busy.
// S2MM: it sets s2mm_cap (beats the segment may take) and raises s2mm_arm; the buffer
//   accepts m_axis beats into memory until it holds s2mm_cap beats or a beat with
//   TLAST, then raises s2mm_stop (tready low). A one-cycle s2mm_dump writes the beats
//   to s2mm.hex; a one-cycle s2mm_clear empties the buffer for the next segment.
// dma_reset aborts both directions.
module rtlcnn_mock_top #
(
    // engine parameters, passed to rtlcnn_top
    parameter P_OC = 16,
    parameter P_IC = 8,
    parameter WBUF_DEPTH = 2048,
    parameter IBUF_DEPTH = 4096,
    parameter PBUF_DEPTH = 1024,
    parameter CLK_MHZ = 100,
    parameter RQ_LANES = 2,
    parameter FBUF_DEPTH = 8192,
    // beats one segment may hold in each direction
    parameter SEG_DEPTH = 65536
)
(
    input  wire          aclk,
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

    input  wire          dma_reset,
    input  wire          mm2s_start,
    input  wire [31:0]   mm2s_count,
    input  wire          mm2s_tlast,
    input  wire [7:0]    mm2s_last_keep,
    output reg           mm2s_busy = 1'b0,
    input  wire          s2mm_arm,
    input  wire [31:0]   s2mm_cap,
    input  wire          s2mm_dump,
    input  wire          s2mm_clear,
    output wire          s2mm_stop,
    output reg  [31:0]   s2mm_cnt = 32'd0,
    output reg           s2mm_last = 1'b0
);

reg [63:0] mm2s_mem [0:SEG_DEPTH-1];
reg [63:0] s2mm_mem [0:SEG_DEPTH-1];
reg [31:0] mm2s_idx = 32'd0;

wire [63:0] s_axis_tdata = mm2s_mem[mm2s_idx];
wire        s_axis_tvalid = mm2s_busy;
wire        s_axis_tend = mm2s_idx == mm2s_count - 32'd1;
wire        s_axis_tlast = mm2s_busy && mm2s_tlast && s_axis_tend;
wire [7:0]  s_axis_tkeep = s_axis_tlast ? mm2s_last_keep : 8'hff;
wire        s_axis_tready;

wire [63:0] m_axis_tdata;
/* verilator lint_off UNUSEDSIGNAL */
wire [7:0]  m_axis_tkeep;  // the engine keeps every byte; S2MM counts whole beats (as the DMA model)
/* verilator lint_on UNUSEDSIGNAL */
wire        m_axis_tvalid;
wire        m_axis_tlast;
assign s2mm_stop = s2mm_last || s2mm_cnt >= s2mm_cap;
wire        m_axis_tready = s2mm_arm && !s2mm_stop && !dma_reset;

always @(posedge aclk) begin
    if (mm2s_start) begin
        $readmemh("mm2s.hex", mm2s_mem, 0, mm2s_count - 1);
        mm2s_idx <= 32'd0;
        mm2s_busy <= mm2s_count != 32'd0;
    end else if (mm2s_busy && s_axis_tready) begin
        if (s_axis_tend) begin
            mm2s_busy <= 1'b0;
        end
        mm2s_idx <= mm2s_idx + 32'd1;
    end
    if (m_axis_tvalid && m_axis_tready) begin
        s2mm_mem[s2mm_cnt] <= m_axis_tdata;
        s2mm_cnt <= s2mm_cnt + 32'd1;
        s2mm_last <= m_axis_tlast;
    end
    if (s2mm_dump && s2mm_cnt != 32'd0) begin
        $writememh("s2mm.hex", s2mm_mem, 0, s2mm_cnt - 1);
    end
    if (s2mm_clear) begin
        s2mm_cnt <= 32'd0;
        s2mm_last <= 1'b0;
    end
    if (dma_reset || !aresetn) begin
        mm2s_busy <= 1'b0;
        s2mm_cnt <= 32'd0;
        s2mm_last <= 1'b0;
    end
end

rtlcnn_top #(
    .P_OC(P_OC),
    .P_IC(P_IC),
    .WBUF_DEPTH(WBUF_DEPTH),
    .IBUF_DEPTH(IBUF_DEPTH),
    .PBUF_DEPTH(PBUF_DEPTH),
    .CLK_MHZ(CLK_MHZ),
    .RQ_LANES(RQ_LANES),
    .FBUF_DEPTH(FBUF_DEPTH)
) engine (
    .aclk(aclk),
    .aresetn(aresetn),
    .s_axi_ctrl_awaddr(s_axi_ctrl_awaddr),
    .s_axi_ctrl_awprot(s_axi_ctrl_awprot),
    .s_axi_ctrl_awvalid(s_axi_ctrl_awvalid),
    .s_axi_ctrl_awready(s_axi_ctrl_awready),
    .s_axi_ctrl_wdata(s_axi_ctrl_wdata),
    .s_axi_ctrl_wstrb(s_axi_ctrl_wstrb),
    .s_axi_ctrl_wvalid(s_axi_ctrl_wvalid),
    .s_axi_ctrl_wready(s_axi_ctrl_wready),
    .s_axi_ctrl_bresp(s_axi_ctrl_bresp),
    .s_axi_ctrl_bvalid(s_axi_ctrl_bvalid),
    .s_axi_ctrl_bready(s_axi_ctrl_bready),
    .s_axi_ctrl_araddr(s_axi_ctrl_araddr),
    .s_axi_ctrl_arprot(s_axi_ctrl_arprot),
    .s_axi_ctrl_arvalid(s_axi_ctrl_arvalid),
    .s_axi_ctrl_arready(s_axi_ctrl_arready),
    .s_axi_ctrl_rdata(s_axi_ctrl_rdata),
    .s_axi_ctrl_rresp(s_axi_ctrl_rresp),
    .s_axi_ctrl_rvalid(s_axi_ctrl_rvalid),
    .s_axi_ctrl_rready(s_axi_ctrl_rready),
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
