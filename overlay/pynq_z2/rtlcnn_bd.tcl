# SPDX-License-Identifier: Apache-2.0
# rtlcnn overlay for the TUL PYNQ-Z2 (Zynq-7000 xc7z020): the block design.
#
# Sourced by the Vivado project script that `fusesoc run --target=pynq_z2 rtlcnn` writes,
# after it has read the RTL; FuseSoC then synthesizes, implements and writes the bitstream,
# and its post_build hook (overlay/common/collect_outputs.py) copies rtlcnn.bit and
# rtlcnn.hwh to overlay/. Names, widths, addresses, clock and engine parameters: driver/board/overlay_spec.txt.
# Needs the PYNQ-Z2 board files (docs/board.md).

set rtlcnn_here [file dirname [file normalize [info script]]]
source [file join $rtlcnn_here .. common spec.tcl]
source [file join $rtlcnn_here .. common bd.tcl]
rtlcnn::load_spec [file join $rtlcnn_here .. .. driver board overlay_spec.txt] pynq_z2

# Zynq-7000 PS with the board preset (DDR, MIO), the GP0 master for control, the HP0 slave
# for DMA data and FCLK0 at the description's clock.
proc rtlcnn::create_ps {} {
    set ps [create_bd_cell -type ip -vlnv [bget ps.vlnv] [bget ps.name]]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} \
        $ps
    configure_ps $ps
    return $ps
}

# The ports and the clock (set first) ...
proc rtlcnn::ps_switches {} {
    return [list \
        PCW_USE_[bget ps.ctrl_port]     1 \
        PCW_USE_[bget ps.data_port]     1 \
        PCW_EN_CLK0_PORT                1 \
        PCW_EN_RST0_PORT                1 \
        PCW_FPGA_FCLK0_ENABLE           1 \
    ]
}

# ... then what depends on them: HP0 as wide as the DMA's memory side, FCLK0's frequency.
proc rtlcnn::ps_settings {} {
    return [list \
        PCW_[bget ps.data_port]_DATA_WIDTH [get dma.mm_bits] \
        PCW_FPGA0_PERIPHERAL_FREQMHZ    [bget clk_mhz] \
    ]
}

# The frequency FCLK0 really gets from its PLL and divisors.
proc rtlcnn::ps_actual_clock {} {
    return PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ
}

rtlcnn::build
