// SPDX-License-Identifier: Apache-2.0
// rtlcnn formal: properties of an AXI4-Lite slave, seen from its ports (no internal signals)
//
// Assumes of the master what AXI (ARM IHI 0022, A3.1-A3.3) requires of it; asserts of the
// slave what AXI requires of it, plus what the rtlcnn register file promises (bounded
// response times, one outstanding access of each kind, OKAY responses). See docs/formal.md.
// For yosys `read -formal` (SymbiYosys): immediate assume/assert/cover in always blocks.

`default_nettype none

module axil_slave_props #
(
    parameter ADDR_WIDTH = 12,
    // a waiting access is taken, and a taken one answered, within this many cycles
    parameter MAX_WAIT = 16,
    // cycles from reset sampled high until the slave's VALID and READY outputs are low
    parameter RST_LATENCY = 1,
    // the master holds reset high for at least this many cycles
    parameter MIN_RESET = 1,
    // the slave takes a write's address and data in the same cycle (rtlcnn_axil_regs does)
    parameter AW_W_TOGETHER = 1
)
(
    input wire                  clk,
    input wire                  rst,  // active high, as the master sees it

    input wire [ADDR_WIDTH-1:0] awaddr,
    input wire [2:0]            awprot,
    input wire                  awvalid,
    input wire                  awready,
    input wire [31:0]           wdata,
    input wire [3:0]            wstrb,
    input wire                  wvalid,
    input wire                  wready,
    input wire [1:0]            bresp,
    input wire                  bvalid,
    input wire                  bready,
    input wire [ADDR_WIDTH-1:0] araddr,
    input wire [2:0]            arprot,
    input wire                  arvalid,
    input wire                  arready,
    input wire [31:0]           rdata,
    input wire [1:0]            rresp,
    input wire                  rvalid,
    input wire                  rready
);

reg f_past_valid = 1'b0;
always @(posedge clk) f_past_valid <= 1'b1;

// reset: the run starts in reset; f_rst_run = consecutive reset cycles before this one
reg [3:0] f_rst_run = 4'd0;
always @(posedge clk) f_rst_run <= !rst ? 4'd0 : (f_rst_run == 4'd15 ? 4'd15 : f_rst_run + 4'd1);
initial assume (rst);
// out of reset in this cycle and the one before: the slave is working normally
wire f_up = !rst && f_rst_run == 4'd0;

wire aw_hs = awvalid && awready;
wire w_hs = wvalid && wready;
wire b_hs = bvalid && bready;
wire ar_hs = arvalid && arready;
wire r_hs = rvalid && rready;

// ---------------------------------------------------------------------------------------
// the master (assumed)
// ---------------------------------------------------------------------------------------
always @* begin
    if (f_rst_run != 4'd0 && f_rst_run < MIN_RESET) assume (rst);
    // VALIDs low during reset and in the cycle it is seen released
    if (rst || f_rst_run != 4'd0) assume (!awvalid && !wvalid && !arvalid);
end

always @(posedge clk) begin
    if (f_past_valid && !rst) begin
        // a VALID stays high, and its payload stable, until READY
        if ($past(awvalid && !awready)) assume (awvalid && $stable(awaddr) && $stable(awprot));
        if ($past(wvalid && !wready)) assume (wvalid && $stable(wdata) && $stable(wstrb));
        if ($past(arvalid && !arready)) assume (arvalid && $stable(araddr) && $stable(arprot));
    end
end

// ---------------------------------------------------------------------------------------
// bookkeeping: handshakes done and not yet answered
// ---------------------------------------------------------------------------------------
reg [1:0] f_aw_open = 2'd0;  // AW handshakes without their B handshake
reg [1:0] f_w_open = 2'd0;   // W handshakes without their B handshake
reg [1:0] f_ar_open = 2'd0;  // AR handshakes without their R handshake
always @(posedge clk) begin
    if (rst) begin
        f_aw_open <= 2'd0;
        f_w_open <= 2'd0;
        f_ar_open <= 2'd0;
    end else begin
        f_aw_open <= f_aw_open + {1'b0, aw_hs} - {1'b0, b_hs};
        f_w_open <= f_w_open + {1'b0, w_hs} - {1'b0, b_hs};
        f_ar_open <= f_ar_open + {1'b0, ar_hs} - {1'b0, r_hs};
    end
end

// waiting times (cycles), reset whenever the wait is over or the master holds things up
reg [4:0] f_wr_wait = 5'd0;  // AWVALID and WVALID high, not taken, no write response held
reg [4:0] f_b_wait = 5'd0;   // AW and W taken, no BVALID yet
reg [4:0] f_rd_wait = 5'd0;  // ARVALID high, not taken, no read response held, no write
reg [4:0] f_r_wait = 5'd0;   // AR taken, no RVALID yet
always @(posedge clk) begin
    f_wr_wait <= (f_up && awvalid && wvalid && !(aw_hs && w_hs) && !(bvalid && !bready))
        ? f_wr_wait + 5'd1 : 5'd0;
    f_b_wait <= (f_up && f_aw_open != 2'd0 && f_w_open != 2'd0 && !bvalid) ? f_b_wait + 5'd1 : 5'd0;
    // a read waits for the writes before it to settle (the register file holds reads off
    // for a few cycles after each write): the count restarts at every write handshake
    f_rd_wait <= (f_up && arvalid && !arready && !(rvalid && !rready) && !aw_hs && !w_hs)
        ? f_rd_wait + 5'd1 : 5'd0;
    f_r_wait <= (f_up && f_ar_open != 2'd0 && !rvalid) ? f_r_wait + 5'd1 : 5'd0;
end

// ---------------------------------------------------------------------------------------
// the slave (asserted)
// ---------------------------------------------------------------------------------------
always @* begin
    // reset: VALIDs (and READYs) low once the reset has been seen, and right after it
    if (f_rst_run >= RST_LATENCY) begin
        reset_clears_valid: assert (!bvalid && !rvalid);
        reset_clears_ready: assert (!awready && !wready && !arready);
    end
    if (f_up) begin
        // BVALID only after both the AW and the W handshake of that write (in earlier
        // cycles); RVALID only after the AR handshake: no response without a request
        bvalid_after_aw_and_w: assert (!bvalid || (f_aw_open != 2'd0 && f_w_open != 2'd0));
        rvalid_after_ar: assert (!rvalid || f_ar_open != 2'd0);
        // one outstanding write and one outstanding read at most
        one_write_open: assert (f_aw_open <= 2'd1 && f_w_open <= 2'd1);
        one_read_open: assert (f_ar_open <= 2'd1);
        if (AW_W_TOGETHER) begin
            aw_and_w_together: assert (aw_hs == w_hs && f_aw_open == f_w_open);
        end
        // every access is answered OKAY
        bresp_okay: assert (!bvalid || bresp == 2'b00);
        rresp_okay: assert (!rvalid || rresp == 2'b00);
        // bounded waits
        write_taken_in_time: assert (f_wr_wait < MAX_WAIT);
        write_answered_in_time: assert (f_b_wait < MAX_WAIT);
        read_taken_in_time: assert (f_rd_wait < MAX_WAIT);
        read_answered_in_time: assert (f_r_wait < MAX_WAIT);
    end
end

always @(posedge clk) begin
    if (f_past_valid && f_up && $past(f_up)) begin
        // a response stays offered, unchanged, until it is taken
        if ($past(bvalid && !bready)) begin
            bvalid_held: assert (bvalid && $stable(bresp));
        end
        if ($past(rvalid && !rready)) begin
            rvalid_held: assert (rvalid && $stable(rdata) && $stable(rresp));
        end
    end
end

// reachability: the checks above are not vacuous
always @* begin
    if (f_up) begin
        cover_write_done: cover (b_hs);
        cover_read_done: cover (r_hs);
    end
end

endmodule

`default_nettype wire
