// SPDX-License-Identifier: Apache-2.0
// rtlcnn formal: AXI4-Stream handshake rules of one stream port, seen from its ports
//
// SOURCE_IS_DUT = 1: the design drives TVALID/TDATA/TKEEP/TLAST (m_axis): the rules are
// asserted. SOURCE_IS_DUT = 0: the environment drives them (s_axis, the DMA's MM2S): the
// same rules are assumed. AXI4-Stream (ARM IHI 0051): once TVALID is high it stays high,
// with TDATA, TKEEP and TLAST unchanged, until the TREADY handshake; TVALID is low in
// reset. `withdraw_ok` names the cycles in which the design may drop an offered beat
// without a handshake (a documented reset of the stream port); tie it low for the strict
// rule. See docs/formal.md.

`default_nettype none

module axis_props #
(
    parameter DATA_WIDTH = 64,
    parameter KEEP_WIDTH = DATA_WIDTH / 8,
    parameter SOURCE_IS_DUT = 1,
    // cycles from reset sampled high until the source's TVALID is low (SOURCE_IS_DUT)
    parameter RST_LATENCY = 1,
    // the stream format: TKEEP all ones on every beat (SOURCE_IS_DUT)
    parameter KEEP_ALL_ONES = 1
)
(
    input wire                  clk,
    input wire                  rst,  // active high
    input wire                  withdraw_ok,

    input wire [DATA_WIDTH-1:0] tdata,
    input wire [KEEP_WIDTH-1:0] tkeep,
    input wire                  tvalid,
    input wire                  tready,
    input wire                  tlast
);

reg [3:0] f_rst_run = 4'd0;  // consecutive reset cycles before this one
always @(posedge clk) f_rst_run <= !rst ? 4'd0 : (f_rst_run == 4'd15 ? 4'd15 : f_rst_run + 4'd1);

// last cycle's beat, offered and not taken (out of reset)
reg f_prev_wait = 1'b0;
reg [DATA_WIDTH-1:0] f_prev_tdata = {DATA_WIDTH{1'b0}};
reg [KEEP_WIDTH-1:0] f_prev_tkeep = {KEEP_WIDTH{1'b0}};
reg f_prev_tlast = 1'b0;
always @(posedge clk) begin
    f_prev_wait <= !rst && tvalid && !tready;
    f_prev_tdata <= tdata;
    f_prev_tkeep <= tkeep;
    f_prev_tlast <= tlast;
end
// it must still be offered, unchanged
wire f_hold_due = f_prev_wait && !rst;
wire f_held = tvalid && tdata == f_prev_tdata && tkeep == f_prev_tkeep && tlast == f_prev_tlast;

generate
if (SOURCE_IS_DUT) begin : g_dut
    always @* begin
        if (f_rst_run >= RST_LATENCY) begin
            reset_clears_tvalid: assert (!tvalid);
        end
        if (f_hold_due && !withdraw_ok) begin
            beat_held_until_taken: assert (f_held);
        end
        if (KEEP_ALL_ONES && tvalid) begin
            tkeep_all_ones: assert (tkeep == {KEEP_WIDTH{1'b1}});
        end
    end
end else begin : g_env
    always @* begin
        if (rst || f_rst_run != 4'd0) assume (!tvalid);
        if (f_hold_due) assume (f_held);
    end
end
endgenerate

endmodule

`default_nettype wire
