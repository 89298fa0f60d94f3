// SPDX-License-Identifier: Apache-2.0
// rtlcnn: output stream packer: int8 or int32 values into 64-bit AXI4-Stream beats with TLAST

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Packs values little endian, 1 byte each (int8) or 4 bytes (int32), into 64-bit
 * beats; up to RQ_LANES values a cycle (in_valid[r] for value r, the valid ones first).
 * A cycle's values may straddle two beats: the bytes past the beat are kept for the
 * next one. in_last (the job's last values) flushes a partial beat, zero padded, with
 * TLAST, and if the values straddle, the beat after it too (one cycle later). in_ready
 * is low only while the output register holds a beat that is not taken this cycle.
 *
 * in_wvalid (the ADD op, version 1.4) offers in_wbytes (1..8) bytes at once instead, packed
 * low in in_wdata, the bytes above them zero; in_valid is all zero then. A cycle's bytes
 * are at most 8 either way, so the same merge packs them.
 *
 * abort (a job aborted mid-stream) ends the packet without breaking AXI4-Stream: a
 * beat already offered stays offered, unchanged, until it is taken; then (or at once,
 * if none is offered) one last beat follows with TLAST, holding the values packed so
 * far that did not fill a beat, zero padded. in_valid is ignored from abort on. An
 * abort while the beat with TLAST is offered changes nothing. Only rst withdraws an
 * offered beat.
 *
 * cfg_hold_last (version 1.5: a job of a command stream that is not its last) keeps TLAST
 * low on the job's last beat; done still pulses when that beat is taken, and the next
 * job's values continue the same packet. An abort always ends the packet with TLAST.
 */
module rtlcnn_stream_out #
(
    // Stream data width (bits); the stream format fixes 64
    parameter DATA_WIDTH = 64,
    // tkeep width
    parameter KEEP_WIDTH = DATA_WIDTH / 8,
    // Values per cycle: 1 or 2
    parameter RQ_LANES = 1
)
(
    input  wire                    clk,
    input  wire                    rst,

    input  wire                    cfg_int32,
    // the job's last beat without TLAST (a command stream goes on)
    input  wire                    cfg_hold_last,

    // end the packet early (one cycle)
    input  wire                    abort,

    input  wire [RQ_LANES-1:0]     in_valid,
    input  wire [RQ_LANES*32-1:0]  in_data,
    // a whole word of int8 bytes (ADD): in_wbytes bytes in in_wdata's low bytes
    input  wire                    in_wvalid,
    input  wire [63:0]             in_wdata,
    input  wire [3:0]              in_wbytes,
    input  wire                    in_last,
    output wire                    in_ready,

    output wire [DATA_WIDTH-1:0]   m_axis_tdata,
    output wire [KEEP_WIDTH-1:0]   m_axis_tkeep,
    output wire                    m_axis_tvalid,
    input  wire                    m_axis_tready,
    output wire                    m_axis_tlast,

    // pulses when the job's last beat (TLAST, or held TLAST) is taken
    output wire                    done
);

initial begin
    if (DATA_WIDTH != 64) begin
        $error("Error: rtlcnn_stream_out DATA_WIDTH must be 64 (instance %m)");
        $finish;
    end
    if (RQ_LANES != 1 && RQ_LANES != 2) begin
        $error("Error: rtlcnn_stream_out RQ_LANES must be 1 or 2 (instance %m)");
        $finish;
    end
end

reg [63:0] buf_reg = 64'd0, buf_next;
reg [2:0] cnt_reg = 3'd0, cnt_next;
reg [63:0] m_axis_tdata_reg = 64'd0, m_axis_tdata_next;
reg m_axis_tvalid_reg = 1'b0, m_axis_tvalid_next;
reg m_axis_tlast_reg = 1'b0, m_axis_tlast_next;
// the offered beat is the job's last (with TLAST, or with TLAST held low)
reg end_reg = 1'b0, end_next;
// a beat with TLAST is owed: the end of an aborted packet, or the bytes of the job's
// last values that did not fit the beat before
reg fin_reg = 1'b0, fin_next;
// the owed beat ends an aborted packet (TLAST even in a held job)
reg fin_abort_reg = 1'b0, fin_abort_next;

wire ready = !m_axis_tvalid_reg || m_axis_tready;
// this cycle's values, packed (invalid ones zero), and their byte count
reg [63:0] vals;
reg [3:0] nbytes;
integer r;
always @* begin
    vals = 64'd0;
    nbytes = 4'd0;
    if (in_wvalid) begin
        vals = in_wdata;
        nbytes = in_wbytes;
    end
    for (r = 0; r < RQ_LANES; r = r + 1) begin
        if (in_valid[r]) begin
            if (cfg_int32) begin
                vals[r*32 +: 32] = in_data[r*32 +: 32];
                nbytes = nbytes + 4'd4;
            end else begin
                vals[r*8 +: 8] = in_data[r*32 +: 8];
                nbytes = nbytes + 4'd1;
            end
        end
    end
end
wire [127:0] shifted = {64'd0, vals} << {cnt_reg, 3'b000};
wire [127:0] merged = {64'd0, buf_reg} | shifted;
wire [3:0] cnt_sum = {1'b0, cnt_reg} + nbytes;

assign in_ready = ready;
assign m_axis_tdata = m_axis_tdata_reg;
assign m_axis_tkeep = {KEEP_WIDTH{1'b1}};
assign m_axis_tvalid = m_axis_tvalid_reg;
assign m_axis_tlast = m_axis_tlast_reg;
assign done = m_axis_tvalid_reg && m_axis_tready && end_reg;

always @* begin
    buf_next = buf_reg;
    cnt_next = cnt_reg;
    m_axis_tdata_next = m_axis_tdata_reg;
    m_axis_tvalid_next = m_axis_tvalid_reg && !m_axis_tready;
    m_axis_tlast_next = m_axis_tlast_reg;
    end_next = end_reg;
    fin_next = fin_reg;
    fin_abort_next = fin_abort_reg;

    if ((abort && !(m_axis_tvalid_reg && m_axis_tlast_reg)) || fin_reg) begin
        if (ready) begin
            m_axis_tdata_next = buf_reg;
            m_axis_tvalid_next = 1'b1;
            m_axis_tlast_next = abort || fin_abort_reg || !cfg_hold_last;
            end_next = 1'b1;
            buf_next = 64'd0;
            cnt_next = 3'd0;
            fin_next = 1'b0;
            fin_abort_next = 1'b0;
        end else begin
            fin_next = 1'b1;
            fin_abort_next = fin_abort_reg || abort;
        end
    end else if ((in_valid != {RQ_LANES{1'b0}} || in_wvalid) && ready && !abort) begin
        if (cnt_sum[3] || in_last) begin
            // a full beat (the bytes past it wait for the next), or the last one
            m_axis_tdata_next = merged[63:0];
            m_axis_tvalid_next = 1'b1;
            m_axis_tlast_next = in_last && cnt_sum <= 4'd8 && !cfg_hold_last;
            end_next = in_last && cnt_sum <= 4'd8;
            buf_next = merged[127:64];
            cnt_next = (in_last && !cnt_sum[3]) ? 3'd0 : cnt_sum[2:0];
            fin_next = in_last && cnt_sum > 4'd8;
        end else begin
            buf_next = merged[63:0];
            cnt_next = cnt_sum[2:0];
        end
    end
end

always @(posedge clk) begin
    buf_reg <= buf_next;
    cnt_reg <= cnt_next;
    m_axis_tdata_reg <= m_axis_tdata_next;
    m_axis_tvalid_reg <= m_axis_tvalid_next;
    m_axis_tlast_reg <= m_axis_tlast_next;
    end_reg <= end_next;
    fin_reg <= fin_next;
    fin_abort_reg <= fin_abort_next;

    if (rst) begin
        buf_reg <= 64'd0;
        cnt_reg <= 3'd0;
        m_axis_tvalid_reg <= 1'b0;
        m_axis_tlast_reg <= 1'b0;
        end_reg <= 1'b0;
        fin_reg <= 1'b0;
        fin_abort_reg <= 1'b0;
    end
end

endmodule

`resetall
