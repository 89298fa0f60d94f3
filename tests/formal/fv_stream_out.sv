// SPDX-License-Identifier: Apache-2.0
// rtlcnn formal: the output stream packer (rtlcnn_stream_out) under axis_props
//
// The packer's inputs come as the engine gives them: one packet per reset (the engine
// resets the packer at each accepted job, SOFT_RESET and reset), values until in_last
// or an abort, at most one abort and none after the packet's TLAST beat was taken (the
// engine gates abort with out_done), the valid lanes first, cfg_int32 fixed. m_axis_tready
// is free. Only rst may withdraw an offered beat. With CHECK_COUNTS the packet is also
// checked against the values that went in: its length and TLAST (docs/stream_format.md,
// including the aborted packet of ERR_TLAST_EARLY) and zero padding; with CHECK_DATA
// also the byte at one position the solver picks. See docs/formal.md.

`default_nettype none

module fv_stream_out #
(
    parameter RQ_LANES = 2,
    // 1: check the packet's length, TLAST and zero padding against the values that went in
    parameter CHECK_COUNTS = 0,
    // 1: also the value of the byte at one position the solver picks (costly: BMC to a
    // small depth only)
    parameter CHECK_DATA = 0,
    // m_axis_tready low for at most this many cycles in a row (0: no limit). The packer
    // changes no state while its beat waits, so a longer stall only repeats states; the
    // k-induction needs the bound to see past the state it cannot observe (a beat owed
    // with TLAST behind the waiting one)
    parameter MAX_STALL = 0
)
(
    input wire                   clk,
    input wire                   rst,
    input wire                   cfg_int32,
    input wire                   abort,
    input wire [RQ_LANES-1:0]    in_valid,
    input wire [RQ_LANES*32-1:0] in_data,
    input wire                   in_last,
    input wire                   m_axis_tready
);

wire in_ready, done;
wire [63:0] m_axis_tdata;
wire [7:0] m_axis_tkeep;
wire m_axis_tvalid, m_axis_tlast;

rtlcnn_stream_out #(.DATA_WIDTH(64), .RQ_LANES(RQ_LANES)) dut (
    .clk(clk), .rst(rst), .cfg_int32(cfg_int32), .cfg_hold_last(1'b0), .abort(abort),
    .in_valid(in_valid), .in_data(in_data), .in_last(in_last), .in_ready(in_ready),
    // the ADD op's word input (engine 1.4): not driven here, so these properties cover the
    // requant lanes' path; the word path is covered through the engine top (fv_top)
    .in_wvalid(1'b0), .in_wdata(64'd0), .in_wbytes(4'd0),
    .m_axis_tdata(m_axis_tdata), .m_axis_tkeep(m_axis_tkeep), .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast), .done(done)
);

axis_props #(.SOURCE_IS_DUT(1), .RST_LATENCY(1), .KEEP_ALL_ONES(1)) m_axis_props (
    .clk(clk), .rst(rst), .withdraw_ok(1'b0),
    .tdata(m_axis_tdata), .tkeep(m_axis_tkeep), .tvalid(m_axis_tvalid),
    .tready(m_axis_tready), .tlast(m_axis_tlast)
);

reg f_past_valid = 1'b0;
always @(posedge clk) f_past_valid <= 1'b1;
initial assume (rst);

wire hs = m_axis_tvalid && m_axis_tready;

// the packet so far
reg f_last_in = 1'b0;     // in_last was taken
reg f_aborted = 1'b0;     // abort came (before the packet's TLAST beat was taken)
reg f_tlast_taken = 1'b0; // the beat with TLAST was taken
reg [11:0] f_bytes = 12'd0;     // bytes taken in
reg [11:0] f_out_beats = 12'd0; // beats taken out
wire f_ended = f_last_in || f_aborted;
wire take = in_valid != {RQ_LANES{1'b0}} && in_ready && !abort && !f_ended;

reg [3:0] nbytes;
integer r;
always @* begin
    nbytes = 4'd0;
    for (r = 0; r < RQ_LANES; r = r + 1) begin
        if (in_valid[r]) nbytes = nbytes + (cfg_int32 ? 4'd4 : 4'd1);
    end
end

always @(posedge clk) begin
    if (take) f_bytes <= f_bytes + {8'd0, nbytes};
    if (take && in_last) f_last_in <= 1'b1;
    if (abort) f_aborted <= 1'b1;
    if (hs) f_out_beats <= f_out_beats + 12'd1;
    if (hs && m_axis_tlast) f_tlast_taken <= 1'b1;
    if (rst) begin
        f_bytes <= 12'd0;
        f_last_in <= 1'b0;
        f_aborted <= 1'b0;
        f_out_beats <= 12'd0;
        f_tlast_taken <= 1'b0;
    end
end

// the engine's side (assumed)
always @* begin
    if (RQ_LANES == 2) assume (!(in_valid[RQ_LANES-1] && !in_valid[0]));  // valid lanes first
    if (f_ended) assume (in_valid == {RQ_LANES{1'b0}});
    if (f_aborted || f_tlast_taken) assume (!abort);
    if (f_bytes >= 12'd2000) assume (in_valid == {RQ_LANES{1'b0}});  // counters do not wrap
end
always @(posedge clk) begin
    if (f_past_valid && !rst && !$past(rst)) assume ($stable(cfg_int32));
end
reg [3:0] f_stall = 4'd0;
always @(posedge clk) f_stall <= (m_axis_tvalid && !m_axis_tready) ? f_stall + 4'd1 : 4'd0;
always @* if (MAX_STALL != 0 && f_stall >= MAX_STALL) assume (m_axis_tready);

// the packer (asserted)
always @* begin
    if (!rst) begin
        in_ready_unless_beat_waits: assert (in_ready == (!m_axis_tvalid || m_axis_tready));
        done_is_tlast_taken: assert (done == (hs && m_axis_tlast));
    end
    if (f_past_valid && !rst) begin
        nothing_after_tlast: assert (!(m_axis_tvalid && f_tlast_taken));
        tlast_only_after_in_last_or_abort: assert (!(m_axis_tvalid && m_axis_tlast) || f_ended);
        tlast_taken_only_after_the_end: assert (!f_tlast_taken || f_ended);
        no_beat_before_data_or_abort: assert (!m_axis_tvalid || f_bytes != 12'd0 || f_aborted);
    end
end

generate
if (CHECK_COUNTS) begin : g_counts
    // beats of the whole packet: ceil(bytes/8) after in_last, floor(bytes/8) + 1 after an
    // abort (the final beat holds the bytes that did not fill a beat, maybe none)
    wire [11:0] expect_beats = f_last_in ? (f_bytes + 12'd7) >> 3 : (f_bytes >> 3) + 12'd1;
    wire [11:0] left = f_bytes - {f_out_beats[8:0], 3'b000};  // bytes not yet sent
    // one byte position the solver picks, and the value that went in there
    (* anyconst *) reg [11:0] f_idx;
    reg f_have = 1'b0;
    reg [7:0] f_val = 8'd0;
    integer q, b;
    always @(posedge clk) begin
        if (take) begin
            for (q = 0; q < RQ_LANES; q = q + 1) begin
                for (b = 0; b < 4; b = b + 1) begin
                    if (in_valid[q] && (cfg_int32 || b == 0)
                            && f_bytes + (cfg_int32 ? 4 * q : q) + b == {20'd0, f_idx}) begin
                        f_have <= 1'b1;
                        f_val <= in_data[q*32 + 8*b +: 8];
                    end
                end
            end
        end
        if (rst) f_have <= 1'b0;
    end
    always @* begin
        if (f_past_valid && !rst && hs) begin
            if (m_axis_tlast) begin
                tlast_ends_the_packet: assert (f_ended && f_out_beats + 12'd1 == expect_beats);
                if (CHECK_DATA) last_beat_zero_padded: assert (left >= 12'd8 || (m_axis_tdata >> {left[2:0], 3'b000}) == 64'd0);
            end else begin
                only_full_beats_before_tlast: assert ({f_out_beats[8:0], 3'b000} + 12'd8 <= f_bytes);
            end
            if (CHECK_DATA && f_have && f_idx[11:3] == f_out_beats[8:0]) begin
                byte_arrives_in_place: assert (m_axis_tdata[8*f_idx[2:0] +: 8] == f_val);
            end
        end
        if (!rst) begin
            cover_full_packet: cover (hs && m_axis_tlast && f_last_in && f_out_beats >= 12'd2);
            cover_aborted_packet: cover (hs && m_axis_tlast && f_aborted && !f_last_in && f_bytes != 12'd0);
        end
    end
end
endgenerate

endmodule

`default_nettype wire
