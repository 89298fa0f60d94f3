// SPDX-License-Identifier: Apache-2.0
// rtlcnn formal: the block-design top (rtlcnn_top) with its three ports under the port
// properties: s_axi_ctrl (axil_slave_props), m_axis (axis_props, the design drives it),
// s_axis (axis_props, the DMA drives it: assumed)
//
// Every input is free within those rules: the solver configures and starts jobs through
// s_axi_ctrl, sends any input stream (also too short or too long ones) and stalls m_axis
// at will. The job-level rules come from the CTRL writes the wrapper sees on the bus.
// STRICT = 0 allows the two withdrawals of an offered m_axis beat that
// docs/register_map.md specifies (SOFT_RESET, and START after an aborted job whose final
// beat was never taken: both reset the output port); STRICT = 1 allows none. See
// docs/formal.md.

`default_nettype none

module fv_top #
(
    parameter P_OC = 4,
    parameter P_IC = 4,
    parameter WBUF_DEPTH = 512,
    parameter IBUF_DEPTH = 1024,
    parameter PBUF_DEPTH = 128,
    parameter CLK_MHZ = 100,
    parameter RQ_LANES = 2,
    parameter STRICT = 0,
    // the master writes sizes and bases (IN_C .. PBASE) below 16 only: jobs small enough
    // to run within the BMC depth, and far less arithmetic for the solver
    parameter SMALL_JOBS = 1,
    // cover runs only: the solver has a directed job to follow (after one reset: write
    // OP .. OUT_C of a 2x2 one-channel MAXPOOL, then START, send its two input beats, take
    // every response and output beat at once; reads stay free), so that the covers show
    // a complete job within the model's assumptions in seconds instead of a search of
    // minutes. The BMC run (COVER_EASY = 0) checks every behaviour.
    parameter COVER_EASY = 0
)
(
    input wire        aclk,
    input wire        aresetn,

    input wire [11:0] s_axi_ctrl_awaddr,
    input wire [2:0]  s_axi_ctrl_awprot,
    input wire        s_axi_ctrl_awvalid,
    input wire [31:0] s_axi_ctrl_wdata,
    input wire [3:0]  s_axi_ctrl_wstrb,
    input wire        s_axi_ctrl_wvalid,
    input wire        s_axi_ctrl_bready,
    input wire [11:0] s_axi_ctrl_araddr,
    input wire [2:0]  s_axi_ctrl_arprot,
    input wire        s_axi_ctrl_arvalid,
    input wire        s_axi_ctrl_rready,

    input wire [63:0] s_axis_tdata,
    input wire [7:0]  s_axis_tkeep,
    input wire        s_axis_tvalid,
    input wire        s_axis_tlast,

    input wire        m_axis_tready
);

wire s_axi_ctrl_awready, s_axi_ctrl_wready, s_axi_ctrl_bvalid, s_axi_ctrl_arready, s_axi_ctrl_rvalid;
wire [1:0] s_axi_ctrl_bresp, s_axi_ctrl_rresp;
wire [31:0] s_axi_ctrl_rdata;
wire s_axis_tready;
wire [63:0] m_axis_tdata;
wire [7:0] m_axis_tkeep;
wire m_axis_tvalid, m_axis_tlast;

rtlcnn_top #(
    .P_OC(P_OC), .P_IC(P_IC), .WBUF_DEPTH(WBUF_DEPTH), .IBUF_DEPTH(IBUF_DEPTH),
    .PBUF_DEPTH(PBUF_DEPTH), .CLK_MHZ(CLK_MHZ), .RQ_LANES(RQ_LANES)
) dut (
    .aclk(aclk), .aresetn(aresetn),
    .s_axi_ctrl_awaddr(s_axi_ctrl_awaddr), .s_axi_ctrl_awprot(s_axi_ctrl_awprot),
    .s_axi_ctrl_awvalid(s_axi_ctrl_awvalid), .s_axi_ctrl_awready(s_axi_ctrl_awready),
    .s_axi_ctrl_wdata(s_axi_ctrl_wdata), .s_axi_ctrl_wstrb(s_axi_ctrl_wstrb),
    .s_axi_ctrl_wvalid(s_axi_ctrl_wvalid), .s_axi_ctrl_wready(s_axi_ctrl_wready),
    .s_axi_ctrl_bresp(s_axi_ctrl_bresp), .s_axi_ctrl_bvalid(s_axi_ctrl_bvalid),
    .s_axi_ctrl_bready(s_axi_ctrl_bready),
    .s_axi_ctrl_araddr(s_axi_ctrl_araddr), .s_axi_ctrl_arprot(s_axi_ctrl_arprot),
    .s_axi_ctrl_arvalid(s_axi_ctrl_arvalid), .s_axi_ctrl_arready(s_axi_ctrl_arready),
    .s_axi_ctrl_rdata(s_axi_ctrl_rdata), .s_axi_ctrl_rresp(s_axi_ctrl_rresp),
    .s_axi_ctrl_rvalid(s_axi_ctrl_rvalid), .s_axi_ctrl_rready(s_axi_ctrl_rready),
    .s_axis_tdata(s_axis_tdata), .s_axis_tkeep(s_axis_tkeep), .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
    .m_axis_tdata(m_axis_tdata), .m_axis_tkeep(m_axis_tkeep), .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast)
);

// the top registers aresetn once: its ports follow a reset two cycles after it is seen;
// the master holds aresetn low for two cycles at least
axil_slave_props #(.ADDR_WIDTH(12), .MAX_WAIT(12), .RST_LATENCY(2), .MIN_RESET(2), .AW_W_TOGETHER(1))
s_axi_ctrl_props (
    .clk(aclk), .rst(!aresetn),
    .awaddr(s_axi_ctrl_awaddr), .awprot(s_axi_ctrl_awprot), .awvalid(s_axi_ctrl_awvalid),
    .awready(s_axi_ctrl_awready), .wdata(s_axi_ctrl_wdata), .wstrb(s_axi_ctrl_wstrb),
    .wvalid(s_axi_ctrl_wvalid), .wready(s_axi_ctrl_wready), .bresp(s_axi_ctrl_bresp),
    .bvalid(s_axi_ctrl_bvalid), .bready(s_axi_ctrl_bready), .araddr(s_axi_ctrl_araddr),
    .arprot(s_axi_ctrl_arprot), .arvalid(s_axi_ctrl_arvalid), .arready(s_axi_ctrl_arready),
    .rdata(s_axi_ctrl_rdata), .rresp(s_axi_ctrl_rresp), .rvalid(s_axi_ctrl_rvalid),
    .rready(s_axi_ctrl_rready)
);

// ---------------------------------------------------------------------------------------
// what the bus says about jobs: START and SOFT_RESET writes to CTRL (0x040)
// ---------------------------------------------------------------------------------------
// the engine's START check waits this many cycles (rtlcnn_engine CHECK_WAIT)
localparam CHECK_WAIT = 8;

reg f_past_valid = 1'b0;
always @(posedge aclk) f_past_valid <= 1'b1;
reg [3:0] f_rst_run = 4'd0;  // consecutive reset cycles before this one
always @(posedge aclk) f_rst_run <= aresetn ? 4'd0 : (f_rst_run == 4'd15 ? 4'd15 : f_rst_run + 4'd1);
wire f_up = aresetn && f_rst_run == 4'd0;

wire wr_hs = s_axi_ctrl_awvalid && s_axi_ctrl_awready;  // W is taken with it (asserted)
wire wr_ctrl = wr_hs && {s_axi_ctrl_awaddr[11:2], 2'b00} == 12'h040 && s_axi_ctrl_wstrb[0];
// START or (version 1.5) RUN_STREAM: both begin a packet on each stream
wire wr_run = wr_ctrl && s_axi_ctrl_wdata[2] && !s_axi_ctrl_wdata[1] && !s_axi_ctrl_wdata[0];
wire wr_start = wr_ctrl && s_axi_ctrl_wdata[0] && !s_axi_ctrl_wdata[1] && !s_axi_ctrl_wdata[2];
wire wr_go = wr_start || wr_run;
wire wr_soft = wr_ctrl && s_axi_ctrl_wdata[1];
wire m_hs = m_axis_tvalid && m_axis_tready;
// the directed job of COVER_EASY: writes taken, input beats sent
reg [2:0] f_nwr = 3'd0;
reg [1:0] f_in_beats = 2'd0;
always @(posedge aclk) begin
    if (s_axi_ctrl_awvalid && s_axi_ctrl_awready && f_nwr != 3'd7) f_nwr <= f_nwr + 3'd1;
    if (s_axis_tvalid && s_axis_tready && f_in_beats != 2'd3) f_in_beats <= f_in_beats + 2'd1;
    if (!aresetn) begin
        f_nwr <= 3'd0;
        f_in_beats <= 2'd0;
    end
end
reg [11:0] f_job_addr;
reg [31:0] f_job_data;
always @* begin
    case (f_nwr)
        3'd0: {f_job_addr, f_job_data} = {12'h080, 32'd2};  // OP: MAXPOOL
        3'd1: {f_job_addr, f_job_data} = {12'h084, 32'd1};  // IN_C
        3'd2: {f_job_addr, f_job_data} = {12'h088, 32'd2};  // IN_H
        3'd3: {f_job_addr, f_job_data} = {12'h08C, 32'd2};  // IN_W
        3'd4: {f_job_addr, f_job_data} = {12'h090, 32'd1};  // OUT_C
        default: {f_job_addr, f_job_data} = {12'h040, 32'd1};  // CTRL: START
    endcase
end
wire wr_size = {s_axi_ctrl_awaddr[11:2], 2'b00} >= 12'h084 && {s_axi_ctrl_awaddr[11:2], 2'b00} <= 12'h0A4;
always @* begin
    if (SMALL_JOBS && s_axi_ctrl_awvalid && wr_size) assume (s_axi_ctrl_wdata[31:4] == 28'd0);
    if (COVER_EASY && f_up) begin
        assume (s_axi_ctrl_bready && s_axi_ctrl_rready && m_axis_tready);
        assume (s_axi_ctrl_awvalid == (f_nwr < 3'd6) && s_axi_ctrl_wvalid == s_axi_ctrl_awvalid);
        assume (s_axi_ctrl_awaddr == f_job_addr && s_axi_ctrl_wdata == f_job_data && s_axi_ctrl_wstrb == 4'hF);
        assume (s_axis_tvalid == (f_nwr == 3'd6 && f_in_beats == 2'd0) && s_axis_tlast);
        assume (s_axis_tdata == 64'd0 && s_axis_tkeep == 8'hFF);
    end
    if (COVER_EASY && f_past_valid && f_rst_run == 4'd0) assume (aresetn);
end
wire s_hs = s_axis_tvalid && s_axis_tready;

reg [4:0] f_soft_age = 5'd31;   // cycles since the last SOFT_RESET write (saturating)
reg [15:0] f_start_hist = 16'd0;  // bit i: a START was written i + 1 cycles ago
reg [15:0] f_go_hist = 16'd0;     // bit i: a START or RUN_STREAM was written i + 1 cycles ago
reg f_out_job = 1'b0;  // START written, and no SOFT_RESET nor the output's TLAST beat since
reg f_in_job = 1'b0;   // START written, and no SOFT_RESET nor an input TLAST beat since
always @(posedge aclk) begin
    f_soft_age <= wr_soft ? 5'd1 : (f_soft_age == 5'd31 ? 5'd31 : f_soft_age + 5'd1);
    f_start_hist <= {f_start_hist[14:0], wr_start};
    f_go_hist <= {f_go_hist[14:0], wr_go};
    // a TLAST taken up to 2 + CHECK_WAIT cycles after a START or RUN_STREAM write ends an
    // earlier packet (a new job cannot send before its check): the job stays open
    if (m_hs && m_axis_tlast && !(wr_go || f_go_hist[CHECK_WAIT + 1:0] != 0)) f_out_job <= 1'b0;
    if (s_hs && s_axis_tlast) f_in_job <= 1'b0;
    if (wr_go) begin
        f_out_job <= 1'b1;
        f_in_job <= 1'b1;
    end
    if (wr_soft) begin
        f_out_job <= 1'b0;
        f_in_job <= 1'b0;
    end
    if (!aresetn) begin
        f_soft_age <= 5'd31;
        f_start_hist <= 16'd0;
        f_go_hist <= 16'd0;
        f_out_job <= 1'b0;
        f_in_job <= 1'b0;
    end
end

// The output port is reset (an offered beat withdrawn) by SOFT_RESET, seen two cycles
// after its write, and by a START that the engine accepts (the check ends 2 + CHECK_WAIT
// cycles after the write), which withdraws only the final beat of an aborted job that
// was never taken. RUN_STREAM (version 1.5) withdraws nothing: it is ignored while a beat
// waits.
// (A later START, ignored while the engine is busy, does not hide the one it accepted.)
wire f_withdraw_ok = !STRICT && (f_soft_age == 5'd2 || f_start_hist[CHECK_WAIT + 2]);

axis_props #(.SOURCE_IS_DUT(1), .RST_LATENCY(2), .KEEP_ALL_ONES(1)) m_axis_props (
    .clk(aclk), .rst(!aresetn), .withdraw_ok(f_withdraw_ok),
    .tdata(m_axis_tdata), .tkeep(m_axis_tkeep), .tvalid(m_axis_tvalid),
    .tready(m_axis_tready), .tlast(m_axis_tlast)
);

axis_props #(.SOURCE_IS_DUT(0)) s_axis_props (
    .clk(aclk), .rst(!aresetn), .withdraw_ok(1'b0),
    .tdata(s_axis_tdata), .tkeep(s_axis_tkeep), .tvalid(s_axis_tvalid),
    .tready(s_axis_tready), .tlast(s_axis_tlast)
);

always @* begin
    if (f_rst_run >= 4'd2) begin
        reset_clears_s_axis_tready: assert (!s_axis_tready);
    end
    if (f_up) begin
        // no output beat without a started job, none after its TLAST beat until the next
        // START (a beat may stay offered until SOFT_RESET withdraws it)
        m_axis_beat_only_in_a_job: assert (!m_axis_tvalid || f_out_job || f_soft_age <= 5'd1);
        // input is taken only from START to the job's input TLAST (SOFT_RESET stops it)
        s_axis_ready_only_in_a_job: assert (!s_axis_tready || f_in_job || f_soft_age <= 5'd1);
    end
    if (f_up) begin
        cover_start_written: cover (wr_start);
        cover_input_taken: cover (s_hs && s_axis_tlast);
        cover_output_packet_done: cover (m_hs && m_axis_tlast);
    end
end

endmodule

`default_nettype wire
