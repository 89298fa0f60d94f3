// SPDX-License-Identifier: Apache-2.0
// rtlcnn: the tap builder: an IN_TAPS job's input map built from a source map in the feature buffer

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * IN_TAPS command jobs (version 1.6, docs/engine.md, docs/stream_format.md): the I section
 * of a kx or pair layout conv, built on chip. The source map in the feature buffer has
 * one beat a pixel, pixel (y, x) at IN_BASE + y*SRC_W + x, its first TAP_C bytes used.
 * Engine pixel (y, j) holds, as channel t*TAP_C + c (t < TAP_T), byte c of source pixel
 * (y, j*STEP - TAP_PAD + t), zero where that column is outside 0 .. SRC_W-1; its
 * TAP_T*TAP_C bytes are padded with zeros to whole beats (rtlcnn.core.commands.tap_map is
 * the definition).
 *
 * Walk: after start, (y, j, t) in that order, one tap a cycle: a feature buffer read of
 * the tap's source pixel, or no read for a column outside the row (the tap is zero). The
 * buffer's read data come one cycle later; the packer appends the tap's TAP_C bytes to an
 * accumulator and emits a beat when 8 bytes are full; at a pixel's last tap the bytes
 * left (1..7, zero padded) are emitted too. When that coincides with a full beat the
 * remainder goes out the next cycle: the next pixel's first tap cannot emit then (a
 * remainder needs TAP_C < 8 and TAP_T >= 2, so that tap starts a beat and is not its
 * pixel's last). So at most one beat a cycle, TAP_T cycles an engine pixel, out_valid two
 * cycles after the tap's read (three for a delayed remainder). No backpressure: the
 * engine takes every beat (the input buffer's write port).
 *
 * The check of the source's extent (CONFIG_ERR 16) needs IN_BASE + IN_H * SRC_W; a small
 * serial multiplier (4 bits of SRC_W a cycle, LUTs only: no DSP) computes it after calc:
 * src_end holds it from the sixth cycle after calc on, until the next calc.
 *
 * rst (flush, SOFT_RESET, reset) stops the walk and drops the beats in flight. The
 * configuration inputs must be stable from start (calc) to the walk's end (src_end).
 */
module rtlcnn_taps #
(
    // feature buffer address width (FBUF_DEPTH = 2^FA_WIDTH beats)
    parameter FA_WIDTH = 13
)
(
    input  wire                   clk,
    input  wire                   rst,

    // header fields: IN_BASE, SRC_W, TAP_C (1..8), TAP_T (>= 1), TAP_PAD, TAP_STEP2;
    // the job's IN_H (source rows) and IN_W (engine columns)
    input  wire [15:0]            cfg_base,
    input  wire [15:0]            cfg_src_w,
    input  wire [3:0]             cfg_c,
    input  wire [3:0]             cfg_t,
    input  wire [3:0]             cfg_pad,
    input  wire                   cfg_step2,
    input  wire [15:0]            cfg_rows,
    input  wire [15:0]            cfg_cols,

    // the source's extent IN_BASE + IN_H * SRC_W (beats), for check 16
    input  wire                   calc,
    output wire [32:0]            src_end,

    // the I section begins: the walk starts in the next cycle
    input  wire                   start,

    // feature buffer read port (rd_data: the word read in the cycle before)
    output wire                   rd_en,
    output wire [FA_WIDTH-1:0]    rd_addr,
    input  wire [63:0]            rd_data,

    // the I section's beats
    output wire                   out_valid,
    output wire [63:0]            out_data
);

initial begin
    if (FA_WIDTH < 4 || FA_WIDTH > 16) begin
        $error("Error: rtlcnn_taps FA_WIDTH must be 4 .. 16 (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------------------------------
// the source's extent: IN_BASE + IN_H * SRC_W, SRC_W's nibbles from the top, each as two
// radix-4 digits of IN_H multiples (0, h, 2h, 3h)
// ---------------------------------------------------------------------------------------
reg [17:0] h3_reg = 18'd0;
reg [31:0] prod_reg = 32'd0;
reg [15:0] mr_reg = 16'd0;
reg [2:0] mstep_reg = 3'd0;
reg [32:0] src_end_reg = 33'd0;

wire [17:0] h1 = {2'd0, cfg_rows};
wire [17:0] h2 = {1'd0, cfg_rows, 1'b0};
wire [1:0] dig_hi = mr_reg[15:14];
wire [1:0] dig_lo = mr_reg[13:12];
wire [17:0] pp_hi = dig_hi == 2'd0 ? 18'd0 : dig_hi == 2'd1 ? h1 : dig_hi == 2'd2 ? h2 : h3_reg;
wire [17:0] pp_lo = dig_lo == 2'd0 ? 18'd0 : dig_lo == 2'd1 ? h1 : dig_lo == 2'd2 ? h2 : h3_reg;
wire [19:0] pp = {pp_hi, 2'b00} + {2'd0, pp_lo};

always @(posedge clk) begin
    h3_reg <= h1 + h2;
    if (calc) begin
        prod_reg <= 32'd0;
        mr_reg <= cfg_src_w;
        mstep_reg <= 3'd4;
    end else if (mstep_reg != 3'd0) begin
        prod_reg <= {prod_reg[27:0], 4'd0} + {12'd0, pp};
        mr_reg <= {mr_reg[11:0], 4'd0};
        mstep_reg <= mstep_reg - 3'd1;
    end
    src_end_reg <= {17'd0, cfg_base} + {1'b0, prod_reg};
end

assign src_end = src_end_reg;

// ---------------------------------------------------------------------------------------
// the walk: (y, j, t) counted from 1; x the tap's source column, addr its beat address
// ---------------------------------------------------------------------------------------
reg run_reg = 1'b0, run_next;
reg [3:0] t_reg = 4'd0, t_next;
reg [15:0] j_reg = 16'd0, j_next;
reg [15:0] y_reg = 16'd0, y_next;
reg signed [17:0] x_reg = 18'sd0, x_next;    // the tap's column
reg signed [17:0] px_reg = 18'sd0, px_next;  // the pixel's first tap's column
reg [FA_WIDTH-1:0] addr_reg = {FA_WIDTH{1'b0}}, addr_next;    // row base + x (mod 2^FA_WIDTH)
reg [FA_WIDTH-1:0] paddr_reg = {FA_WIDTH{1'b0}}, paddr_next;  // row base + px
reg [FA_WIDTH-1:0] rowp_reg = {FA_WIDTH{1'b0}}, rowp_next;    // row base - TAP_PAD

wire t_last = t_reg == cfg_t;
wire j_last = j_reg == cfg_cols;
wire y_last = y_reg == cfg_rows;
wire signed [17:0] step = cfg_step2 ? 18'sd2 : 18'sd1;
wire signed [17:0] x_first = -$signed({14'd0, cfg_pad});
wire [FA_WIDTH-1:0] step_a = cfg_step2 ? {{FA_WIDTH-2{1'b0}}, 2'd2} : {{FA_WIDTH-1{1'b0}}, 1'b1};
wire [FA_WIDTH-1:0] pad_a = {{FA_WIDTH-4{1'b0}}, cfg_pad};
/* verilator lint_off UNUSEDSIGNAL */  // the buffer's depth is 2^FA_WIDTH: higher address bits are 0
wire [15:0] src_w_a = cfg_src_w;
wire [15:0] base_a = cfg_base;
/* verilator lint_on UNUSEDSIGNAL */
// the tap's column is inside the source row: a read
wire x_in = !x_reg[17] && x_reg[16:0] < {1'b0, cfg_src_w};

always @* begin
    run_next = run_reg;
    t_next = t_reg;
    j_next = j_reg;
    y_next = y_reg;
    x_next = x_reg;
    px_next = px_reg;
    addr_next = addr_reg;
    paddr_next = paddr_reg;
    rowp_next = rowp_reg;
    if (start) begin
        run_next = 1'b1;
        t_next = 4'd1;
        j_next = 16'd1;
        y_next = 16'd1;
        x_next = x_first;
        px_next = x_first;
        rowp_next = base_a[FA_WIDTH-1:0] - pad_a;
        paddr_next = base_a[FA_WIDTH-1:0] - pad_a;
        addr_next = base_a[FA_WIDTH-1:0] - pad_a;
    end else if (run_reg) begin
        if (!t_last) begin
            // the pixel's next tap
            t_next = t_reg + 4'd1;
            x_next = x_reg + 18'sd1;
            addr_next = addr_reg + 1'b1;
        end else if (!j_last) begin
            // the row's next engine pixel: STEP columns on
            t_next = 4'd1;
            j_next = j_reg + 16'd1;
            px_next = px_reg + step;
            x_next = px_reg + step;
            paddr_next = paddr_reg + step_a;
            addr_next = paddr_reg + step_a;
        end else if (!y_last) begin
            // the next source row
            t_next = 4'd1;
            j_next = 16'd1;
            y_next = y_reg + 16'd1;
            px_next = x_first;
            x_next = x_first;
            rowp_next = rowp_reg + src_w_a[FA_WIDTH-1:0];
            paddr_next = rowp_reg + src_w_a[FA_WIDTH-1:0];
            addr_next = rowp_reg + src_w_a[FA_WIDTH-1:0];
        end else begin
            run_next = 1'b0;
        end
    end
end

assign rd_en = run_reg && x_in;
assign rd_addr = addr_reg;

// ---------------------------------------------------------------------------------------
// the packer: the tap's bytes (zero without a read) appended to the accumulator
// ---------------------------------------------------------------------------------------
reg q_valid_reg = 1'b0;  // a tap's cycle: its data (a read's) on rd_data now
reg q_read_reg = 1'b0;
reg q_plast_reg = 1'b0;  // the pixel's last tap
reg [63:0] mask_reg = 64'd0;  // TAP_C bytes
reg [55:0] acc_reg = 56'd0, acc_next;
reg [2:0] n_reg = 3'd0, n_next;
reg pend_reg = 1'b0, pend_next;  // acc_reg holds a pixel's remainder: emit it now
reg out_valid_reg = 1'b0, out_valid_next;
reg [63:0] out_data_reg = 64'd0, out_data_next;

integer bi;
always @(posedge clk) begin
    for (bi = 0; bi < 8; bi = bi + 1) begin
        mask_reg[bi*8 +: 8] <= bi[3:0] < cfg_c ? 8'hFF : 8'h00;
    end
end

wire [2:0] n_eff = pend_reg ? 3'd0 : n_reg;
wire [55:0] acc_eff = pend_reg ? 56'd0 : acc_reg;
wire [63:0] tap = q_read_reg ? rd_data & mask_reg : 64'd0;
wire [119:0] wide = {56'd0, tap} << {n_eff, 3'b000};
wire [63:0] lo = {8'd0, acc_eff} | wide[63:0];
wire [3:0] total = {1'b0, n_eff} + cfg_c;

always @* begin
    acc_next = acc_reg;
    n_next = n_reg;
    pend_next = 1'b0;
    out_valid_next = 1'b0;
    out_data_next = out_data_reg;
    if (pend_reg) begin
        out_valid_next = 1'b1;
        out_data_next = {8'd0, acc_reg};
        acc_next = 56'd0;
        n_next = 3'd0;
    end
    if (q_valid_reg) begin
        if (total[3]) begin
            // 8 bytes full; the tap's bytes beyond them start the next beat (a pixel's
            // remainder if this is its last tap: out next cycle)
            out_valid_next = 1'b1;
            out_data_next = lo;
            acc_next = wide[119:64];
            n_next = total[2:0];
            pend_next = q_plast_reg && total[2:0] != 3'd0;
        end else if (q_plast_reg) begin
            // the pixel's last bytes, zero padded
            out_valid_next = 1'b1;
            out_data_next = lo;
            acc_next = 56'd0;
            n_next = 3'd0;
        end else begin
            acc_next = lo[55:0];
            n_next = total[2:0];
        end
    end
end

always @(posedge clk) begin
    run_reg <= run_next;
    t_reg <= t_next;
    j_reg <= j_next;
    y_reg <= y_next;
    x_reg <= x_next;
    px_reg <= px_next;
    addr_reg <= addr_next;
    paddr_reg <= paddr_next;
    rowp_reg <= rowp_next;
    q_valid_reg <= run_reg;
    q_read_reg <= rd_en;
    q_plast_reg <= t_last;
    acc_reg <= acc_next;
    n_reg <= n_next;
    pend_reg <= pend_next;
    out_valid_reg <= out_valid_next;
    out_data_reg <= out_data_next;
    if (rst) begin
        run_reg <= 1'b0;
        q_valid_reg <= 1'b0;
        q_read_reg <= 1'b0;
        acc_reg <= 56'd0;
        n_reg <= 3'd0;
        pend_reg <= 1'b0;
        out_valid_reg <= 1'b0;
    end
end

assign out_valid = out_valid_reg;
assign out_data = out_data_reg;

endmodule

`resetall
