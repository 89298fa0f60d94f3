# SPDX-License-Identifier: Apache-2.0
# rtlcnn overlay for the AMD ZCU104 (Zynq UltraScale+ xczu7ev): the block design.
#
# Sourced by the Vivado project script that `fusesoc run --target=zcu104 rtlcnn` writes,
# after it has read the RTL; FuseSoC then synthesizes, implements and writes the bitstream,
# and its post_build hook (overlay/common/collect_outputs.py) copies rtlcnn.bit and
# rtlcnn.hwh to overlay/. Names, widths, addresses, clock and engine parameters: driver/board/overlay_spec.txt.
# The ZCU104 board files ship with Vivado.

set rtlcnn_here [file dirname [file normalize [info script]]]
source [file join $rtlcnn_here .. common spec.tcl]
source [file join $rtlcnn_here .. common bd.tcl]
rtlcnn::load_spec [file join $rtlcnn_here .. .. driver board overlay_spec.txt] zcu104

# Zynq UltraScale+ PS with the board preset, then only what the overlay uses:
# M_AXI_HPM0_FPD (PSU__USE__M_AXI_GP0, 32 bits: AXI-lite registers) for control,
# S_AXI_HP0_FPD (PSU__USE__S_AXI_GP2, as wide as the DMA's memory side) for data, and
# pl_clk0 at the description's clock. The preset's other masters (HPM1_FPD, HPM0_LPD)
# are switched off so no clock pin is left unconnected.
proc rtlcnn::create_ps {} {
    set ps [create_bd_cell -type ip -vlnv [bget ps.vlnv] [bget ps.name]]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e \
        -config {apply_board_preset "1"} $ps
    configure_ps $ps
    return $ps
}

# The ports and the clock (set first) ...
proc rtlcnn::ps_switches {} {
    return [list \
        PSU__USE__M_AXI_GP0                 1 \
        PSU__USE__M_AXI_GP1                 0 \
        PSU__USE__M_AXI_GP2                 0 \
        PSU__USE__S_AXI_GP2                 1 \
        PSU__FPGA_PL0_ENABLE                1 \
    ]
}

# ... then what depends on them: the widths of HPM0 and HP0, pl_clk0's frequency.
proc rtlcnn::ps_settings {} {
    return [list \
        PSU__MAXIGP0__DATA_WIDTH            32 \
        PSU__SAXIGP2__DATA_WIDTH            [get dma.mm_bits] \
        PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ [bget clk_mhz] \
    ]
}

# The frequency pl_clk0 really gets from its PLL and divisors.
proc rtlcnn::ps_actual_clock {} {
    return PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ
}

rtlcnn::build
