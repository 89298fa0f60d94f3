// SPDX-License-Identifier: Apache-2.0
// rtlcnn: requantizer (1 or 2 lanes a cycle): shadow copy of the accumulators, bias, 64-bit multiply, round, shift, clamp to the job's bounds

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * load copies P_OC finished accumulators into one of two shadow registers (only while
 * !full, i.e. while a slot is free); the unit then processes the slots in turn, lanes
 * 0 .. nvalid-1 of each, RQ_LANES per cycle while en is high, without a gap between
 * slots (a cycle issues lanes l .. l+RQ_LANES-1, those below nvalid valid):
 *   s = acc + bias[c]                      (int32, wrapping)
 *   y = clamp((s * M[c] + 2^(k-1)) >>> k, cfg_lo, cfg_hi),  k = 31 + shift[c]
 * with c = pbase + lane, the parameters read from the parameter buffer, and cfg_lo <=
 * cfg_hi the job's int8 bounds (the engine gives max(act_min, RELU ? 0 : -128) and act_max
 * of the ACT register, registered; -128 and 127 for standalone pools). With cfg_pair
 * (PAIR jobs: lanes l and l + P_OC/2 hold two horizontally adjacent conv pixels of a
 * 2x2 max-pool window, sub 0 and 1 its two rows) a slot takes acc = the maximum of
 * lanes l and l + P_OC/2 over both rows: the sub-0 load writes the slot without
 * marking it full, the sub-1 load merges into it and marks it. MODE_INT32
 * emits s; MODE_BYPASS (standalone pools) emits clamp(acc) (bias 0, M = 2^30, k = 30).
 * The clamp compares the 65-bit y with the registered bounds directly: the upper 57 bits
 * of a sign-extended int8 are its sign, so each comparison maps to one LUT level into a
 * short carry chain, no deeper than the constant clamp of engines before 1.3.
 * Nine cycles from issue to out_*; everything moves only with en. The parameter
 * buffer read port gives the entries of lanes l .. l+RQ_LANES-1 (pb_rd_addr is lane l's
 * entry; the next ones follow it), out_valid[r] / out_data[32*r +: 32] are lane
 * out_lane + r.
 */
module rtlcnn_requant #
(
    // Output-channel lanes
    parameter P_OC = 16,
    // Parameter buffer index width
    parameter PA_WIDTH = 10,
    // Width of the valid-lane count
    parameter NV_WIDTH = $clog2(P_OC) + 1,
    // Lane index width
    parameter LANE_WIDTH = P_OC > 1 ? $clog2(P_OC) : 1,
    // Lanes requantized per cycle: 1 or 2 (at most P_OC)
    parameter RQ_LANES = 1
)
(
    input  wire                      clk,
    input  wire                      rst,

    input  wire                      en,

    input  wire signed [7:0]         cfg_lo,
    input  wire signed [7:0]         cfg_hi,
    input  wire                      cfg_int32,
    input  wire                      cfg_bypass,
    input  wire                      cfg_pair,

    input  wire                      load,
    input  wire [P_OC*32-1:0]        load_acc,
    input  wire [NV_WIDTH-1:0]       load_nvalid,
    input  wire [PA_WIDTH-1:0]       load_pbase,
    input  wire [1:0]                load_sub,
    input  wire                      load_job_last,
    output wire                      full,

    // parameter buffer read port: {shift[7:0], M[31:0], bias[31:0]}
    output wire                      pb_rd_en,
    output wire [PA_WIDTH-1:0]       pb_rd_addr,
    input  wire [RQ_LANES*72-1:0]    pb_rd_data,

    output wire [RQ_LANES-1:0]       out_valid,
    output wire [RQ_LANES*32-1:0]    out_data,
    output wire [LANE_WIDTH-1:0]     out_lane,
    output wire [1:0]                out_sub,
    output wire                      out_last
);

localparam SIDE_WIDTH = RQ_LANES + LANE_WIDTH + 2 + 1;

initial begin
    if (P_OC < 1 || NV_WIDTH <= $clog2(P_OC)) begin
        $error("Error: rtlcnn_requant bad P_OC / NV_WIDTH (instance %m)");
        $finish;
    end
    if ((RQ_LANES != 1 && RQ_LANES != 2) || RQ_LANES > P_OC) begin
        $error("Error: rtlcnn_requant RQ_LANES must be 1 or 2, at most P_OC (instance %m)");
        $finish;
    end
end

// two shadow slots: written at wp, read at rp
localparam META_WIDTH = NV_WIDTH + PA_WIDTH + 2 + 1;
reg [1:0] sv_reg = 2'b00, sv_next;
reg wp_reg = 1'b0, wp_next;
reg rp_reg = 1'b0, rp_next;
reg [P_OC*32-1:0] sh_acc0_reg = {P_OC*32{1'b0}}, sh_acc1_reg = {P_OC*32{1'b0}};
reg [META_WIDTH-1:0] sh_meta0_reg = {META_WIDTH{1'b0}}, sh_meta1_reg = {META_WIDTH{1'b0}};
reg [LANE_WIDTH-1:0] lane_reg = {LANE_WIDTH{1'b0}}, lane_next;

wire [P_OC*32-1:0] sh_acc_reg = rp_reg ? sh_acc1_reg : sh_acc0_reg;
wire [META_WIDTH-1:0] sh_meta = rp_reg ? sh_meta1_reg : sh_meta0_reg;
wire [NV_WIDTH-1:0] sh_nvalid_reg = sh_meta[META_WIDTH-1 -: NV_WIDTH];
wire [PA_WIDTH-1:0] sh_pbase_reg = sh_meta[PA_WIDTH+2 -: PA_WIDTH];
wire [1:0] sh_sub_reg = sh_meta[2:1];
wire sh_job_last_reg = sh_meta[0];
wire load_ok = load && !sv_reg[wp_reg];
// a load that completes its slot (every load, except the first row of a PAIR window)
wire load_fill = load_ok && (!cfg_pair || load_sub[0]);

// the value a load writes: the accumulators, or for PAIR the pooled maximum
/* verilator lint_off UNUSEDSIGNAL */  // PAIR merges only the lanes below P_OC/2
wire [P_OC*32-1:0] wslot = wp_reg ? sh_acc1_reg : sh_acc0_reg;
/* verilator lint_on UNUSEDSIGNAL */
wire [P_OC*32-1:0] slot_in;
genvar gp;
generate
    if (P_OC > 1) begin : g_pair
        for (gp = 0; gp < P_OC; gp = gp + 1) begin : g_lane
            if (gp < P_OC / 2) begin : g_lo
                wire signed [31:0] a = load_acc[gp*32 +: 32];
                wire signed [31:0] b = load_acc[(gp+P_OC/2)*32 +: 32];
                wire signed [31:0] o = wslot[gp*32 +: 32];
                // max(a, b) or max(o, a, b): three comparisons side by side, then a mux,
                // rather than two comparators in series on the load path
                wire ab = a > b, oa = o > a, ob = o > b;
                wire merge = load_sub[0];
                assign slot_in[gp*32 +: 32] = !cfg_pair ? a
                    : ab ? (merge && oa ? o : a) : (merge && ob ? o : b);
            end else begin : g_hi
                assign slot_in[gp*32 +: 32] = load_acc[gp*32 +: 32];
            end
        end
    end else begin : g_nopair
        assign slot_in = load_acc;
    end
endgenerate

wire issue = en && sv_reg[rp_reg];
/* verilator lint_off WIDTH */  // lane + RQ_LANES in NV_WIDTH bits
wire [NV_WIDTH-1:0] lane_end = {1'b0, lane_reg} + RQ_LANES;
/* verilator lint_on WIDTH */
wire issue_last_lane = lane_end >= sh_nvalid_reg;
// lanes of this issue below nvalid
reg [RQ_LANES-1:0] issue_mask;
integer q;
always @* begin
    for (q = 0; q < RQ_LANES; q = q + 1) begin
        /* verilator lint_off WIDTH */  // lane + q compared in 32 bits: q is the loop integer
        issue_mask[q] = issue && ({1'b0, lane_reg} + q < sh_nvalid_reg);
        /* verilator lint_on WIDTH */
    end
end

// side band along the pipeline: {valid lanes, first lane, sub, last}
reg [SIDE_WIDTH-1:0] r1_side_reg = {SIDE_WIDTH{1'b0}}, r2_side_reg = {SIDE_WIDTH{1'b0}};
reg [SIDE_WIDTH-1:0] r3_side_reg = {SIDE_WIDTH{1'b0}}, r4_side_reg = {SIDE_WIDTH{1'b0}};
reg [SIDE_WIDTH-1:0] r5_side_reg = {SIDE_WIDTH{1'b0}}, r6_side_reg = {SIDE_WIDTH{1'b0}};
reg [SIDE_WIDTH-1:0] r7_side_reg = {SIDE_WIDTH{1'b0}}, r8_side_reg = {SIDE_WIDTH{1'b0}};

assign full = sv_reg[wp_reg];
assign pb_rd_en = en;
assign pb_rd_addr = sh_pbase_reg + {{PA_WIDTH-LANE_WIDTH{1'b0}}, lane_reg};

assign out_valid = r8_side_reg[SIDE_WIDTH-1 -: RQ_LANES];
assign out_lane = r8_side_reg[3 +: LANE_WIDTH];
assign out_sub = r8_side_reg[2:1];
assign out_last = r8_side_reg[0];

always @* begin
    sv_next = sv_reg;
    wp_next = wp_reg;
    rp_next = rp_reg;
    lane_next = lane_reg;

    if (issue) begin
        /* verilator lint_off WIDTH */  // lane + RQ_LANES wraps in LANE_WIDTH bits after the slot's last lane
        lane_next = lane_reg + RQ_LANES;
        /* verilator lint_on WIDTH */
        if (issue_last_lane) begin
            lane_next = {LANE_WIDTH{1'b0}};
            sv_next[rp_reg] = 1'b0;
            rp_next = !rp_reg;
        end
    end
    if (load_fill) begin
        sv_next[wp_reg] = 1'b1;
        wp_next = !wp_reg;
    end
end

always @(posedge clk) begin
    sv_reg <= sv_next;
    wp_reg <= wp_next;
    rp_reg <= rp_next;
    lane_reg <= lane_next;
    if (load_ok && !wp_reg) begin
        sh_acc0_reg <= slot_in;
        sh_meta0_reg <= {load_nvalid, load_pbase, load_sub, load_job_last};
    end
    if (load_ok && wp_reg) begin
        sh_acc1_reg <= slot_in;
        sh_meta1_reg <= {load_nvalid, load_pbase, load_sub, load_job_last};
    end

    if (en) begin
        r1_side_reg <= {issue_mask, lane_reg, sh_sub_reg, sh_job_last_reg && issue_last_lane};
        r2_side_reg <= r1_side_reg;
        r3_side_reg <= r2_side_reg;
        r4_side_reg <= r3_side_reg;
        r5_side_reg <= r4_side_reg;
        r6_side_reg <= r5_side_reg;
        r7_side_reg <= r6_side_reg;
        r8_side_reg <= r7_side_reg;
    end

    if (rst) begin
        sv_reg <= 2'b00;
        wp_reg <= 1'b0;
        rp_reg <= 1'b0;
        lane_reg <= {LANE_WIDTH{1'b0}};
        r1_side_reg <= {SIDE_WIDTH{1'b0}};
        r2_side_reg <= {SIDE_WIDTH{1'b0}};
        r3_side_reg <= {SIDE_WIDTH{1'b0}};
        r4_side_reg <= {SIDE_WIDTH{1'b0}};
        r5_side_reg <= {SIDE_WIDTH{1'b0}};
        r6_side_reg <= {SIDE_WIDTH{1'b0}};
        r7_side_reg <= {SIDE_WIDTH{1'b0}};
        r8_side_reg <= {SIDE_WIDTH{1'b0}};
    end
end

// one arithmetic pipeline per lane of an issue
genvar gr;
generate
    for (gr = 0; gr < RQ_LANES; gr = gr + 1) begin : g_lane
        // r1: parameter read, accumulator selected
        reg [31:0] r1_acc_reg = 32'd0;
        // r2: s = acc + bias
        reg signed [31:0] r2_s_reg = 32'sd0;
        reg signed [31:0] r2_m_reg = 32'sd0;
        reg [6:0] r2_k_reg = 7'd0;
        // r3: multiplier inputs
        reg signed [31:0] r3_a_reg = 32'sd0, r3_b_reg = 32'sd0;
        reg [31:0] r3_s_reg = 32'd0;
        reg [6:0] r3_k_reg = 7'd0;
        // r4, r5: product
        reg signed [63:0] r4_p_reg = 64'sd0, r5_p_reg = 64'sd0;
        reg [31:0] r4_s_reg = 32'd0, r5_s_reg = 32'd0;
        reg [6:0] r4_k_reg = 7'd0, r5_k_reg = 7'd0;
        // r6: rounding
        reg signed [64:0] r6_r_reg = 65'sd0;
        reg [31:0] r6_s_reg = 32'd0;
        reg [6:0] r6_k_reg = 7'd0;
        // r7: shift
        reg signed [64:0] r7_y_reg = 65'sd0;
        reg [31:0] r7_s_reg = 32'd0;
        // r8: clamp, output
        reg [31:0] r8_data_reg = 32'd0;
        // the bounds as 65-bit values; within them y is an int8: its low byte, sign-extended
        wire signed [64:0] hi65 = {{57{cfg_hi[7]}}, cfg_hi};
        wire signed [64:0] lo65 = {{57{cfg_lo[7]}}, cfg_lo};
        wire signed [7:0] y8 = r7_y_reg[7:0];

        /* verilator lint_off WIDTH */  // lane_reg + gr wraps within the shadow slot; an invalid lane is discarded
        wire [LANE_WIDTH-1:0] lane = lane_reg + gr;
        /* verilator lint_on WIDTH */
        wire signed [31:0] pb_bias = pb_rd_data[gr*72 +: 32];
        wire signed [31:0] pb_m = pb_rd_data[gr*72+32 +: 32];
        wire signed [7:0] pb_shift = pb_rd_data[gr*72+64 +: 8];
        wire signed [31:0] r1_acc_s = r1_acc_reg;
        /* verilator lint_off UNUSEDSIGNAL */  // bit 7: k = 31 + shift is taken modulo 128
        wire signed [7:0] k_shift = cfg_bypass ? -8'sd1 : pb_shift;
        /* verilator lint_on UNUSEDSIGNAL */
        wire signed [64:0] round_const = 65'sd1 <<< (r5_k_reg - 7'd1);

        assign out_data[gr*32 +: 32] = r8_data_reg;

        always @(posedge clk) begin
            if (en) begin
                r1_acc_reg <= sh_acc_reg[lane*32 +: 32];

                r2_s_reg <= r1_acc_s + (cfg_bypass ? 32'sd0 : pb_bias);
                r2_m_reg <= cfg_bypass ? 32'sh40000000 : pb_m;
                r2_k_reg <= 7'd31 + k_shift[6:0];  // k = 31 + shift in 1..62: modulo 128 is exact

                r3_a_reg <= r2_s_reg;
                r3_b_reg <= r2_m_reg;
                r3_s_reg <= r2_s_reg;
                r3_k_reg <= r2_k_reg;

                r4_p_reg <= r3_a_reg * r3_b_reg;
                r4_s_reg <= r3_s_reg;
                r4_k_reg <= r3_k_reg;

                r5_p_reg <= r4_p_reg;
                r5_s_reg <= r4_s_reg;
                r5_k_reg <= r4_k_reg;

                r6_r_reg <= {r5_p_reg[63], r5_p_reg} + round_const;
                r6_s_reg <= r5_s_reg;
                r6_k_reg <= r5_k_reg;

                r7_y_reg <= r6_r_reg >>> r6_k_reg;
                r7_s_reg <= r6_s_reg;

                if (cfg_int32) begin
                    r8_data_reg <= r7_s_reg;
                end else if (r7_y_reg > hi65) begin  // lo <= hi (check 12)
                    r8_data_reg <= {{24{cfg_hi[7]}}, cfg_hi};
                end else if (r7_y_reg < lo65) begin
                    r8_data_reg <= {{24{cfg_lo[7]}}, cfg_lo};
                end else begin
                    r8_data_reg <= {{24{y8[7]}}, y8};
                end
            end
        end
    end
endgenerate

endmodule

`resetall
