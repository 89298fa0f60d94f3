# SPDX-License-Identifier: Apache-2.0
# rtlcnn: the board-independent part of the overlay block design.
#
# Sourced by overlay/<board>/rtlcnn_bd.tcl after spec.tcl, inside a Vivado project that
# already holds the RTL (FuseSoC's project script reads hls_free_rtl/*.v first). The board
# script defines rtlcnn::create_ps (the processing system with the board preset, its
# control master port, its HP data slave port and FCLK0 enabled) and calls rtlcnn::build.
# Every name, width, address and parameter comes from driver/board/overlay_spec.txt.
#
#   PS ctrl_port --ctrl_ic--+-- rtlcnn_0/s_axi_ctrl        (engine registers)
#                           +-- axi_dma_0/S_AXI_LITE       (DMA registers)
#   axi_dma_0/M_AXIS_MM2S ----> rtlcnn_0/s_axis
#   rtlcnn_0/m_axis       ----> axi_dma_0/S_AXIS_S2MM
#   axi_dma_0/M_AXI_MM2S, M_AXI_S2MM --mem_ic--> PS data_port (HP0, DDR)
#   PS clk_pin (FCLK0) clocks everything; rst_pl_0 makes the resets from PS resetn_pin.

namespace eval rtlcnn {}

# Stop unless this is the Vivado version the description pins (override for experiments
# with RTLCNN_ANY_VIVADO=1; the result is then unsupported).
proc rtlcnn::check_vivado_version {} {
    set want [get vivado_version]
    set have [version -short]
    if {[string first $want $have] != 0} {
        set msg "rtlcnn overlay Tcl is written for Vivado $want, this is Vivado $have (see docs/board.md)"
        if {[info exists ::env(RTLCNN_ANY_VIVADO)] && $::env(RTLCNN_ANY_VIVADO) eq "1"} {
            puts "WARNING: $msg; continuing because RTLCNN_ANY_VIVADO=1"
        } else {
            error "$msg; set RTLCNN_ANY_VIVADO=1 to try anyway"
        }
    }
}

# The open project must target the description's part (FuseSoC sets it from fusesoc.core).
proc rtlcnn::check_project {} {
    if {[llength [get_projects -quiet]] == 0} {
        error "no Vivado project is open: build with `fusesoc run --target=[set rtlcnn::board] rtlcnn` (docs/board.md), which creates the project, reads the RTL and sources this script"
    }
    set part [get_property PART [current_project]]
    if {$part ne [bget part]} {
        error "the project targets part $part, the overlay description says [bget part] for board [set rtlcnn::board]"
    }
}

proc rtlcnn::pin {path} {
    return [get_bd_pins $path]
}

proc rtlcnn::intf {path} {
    return [get_bd_intf_pins $path]
}

# The accelerator as a module reference, with the board's engine parameters.
proc rtlcnn::create_accel {} {
    set cell [create_bd_cell -type module -reference [get accel.module] [get accel.name]]
    set props {}
    foreach {name value} [bdict engine.] {
        lappend props CONFIG.$name $value
    }
    set_property -dict $props $cell
    return $cell
}

# The AXI DMA in simple (register) mode with 64-bit streams and the description's length width.
proc rtlcnn::create_dma {} {
    set cell [create_bd_cell -type ip -vlnv [get dma.vlnv] [get dma.name]]
    set_property -dict [list \
        CONFIG.c_include_sg                [get dma.include_sg] \
        CONFIG.c_sg_include_stscntrl_strm  0 \
        CONFIG.c_sg_length_width           [get dma.length_bits] \
        CONFIG.c_addr_width                [get dma.addr_bits] \
        CONFIG.c_include_mm2s              1 \
        CONFIG.c_include_s2mm              1 \
        CONFIG.c_m_axis_mm2s_tdata_width   [get dma.stream_bits] \
        CONFIG.c_s_axis_s2mm_tdata_width   [get dma.stream_bits] \
        CONFIG.c_m_axi_mm2s_data_width     [get dma.mm_bits] \
        CONFIG.c_m_axi_s2mm_data_width     [get dma.mm_bits] \
        CONFIG.c_mm2s_burst_size           [get dma.burst_beats] \
        CONFIG.c_s2mm_burst_size           [get dma.burst_beats] \
        CONFIG.c_include_mm2s_dre          [get dma.dre] \
        CONFIG.c_include_s2mm_dre          [get dma.dre] \
    ] $cell
    return $cell
}

proc rtlcnn::create_interconnect {name num_si num_mi} {
    set cell [create_bd_cell -type ip -vlnv [get interconnect.vlnv] $name]
    set_property -dict [list CONFIG.NUM_SI $num_si CONFIG.NUM_MI $num_mi] $cell
    return $cell
}

# Build, validate and save the block design, then make the HDL wrapper the top.
proc rtlcnn::build {} {
    check_vivado_version
    check_project

    set design [get design_name]
    set ps     [bget ps.name]
    set acc    [get accel.name]
    set dma    [get dma.name]
    set rst    [get reset.name]
    set cic    [get ctrl_ic.name]
    set mic    [get mem_ic.name]

    # Module references need the RTL in the compile order.
    update_compile_order -fileset sources_1
    create_bd_design $design
    current_bd_design $design

    # --- cells
    create_ps
    create_accel
    create_dma
    create_bd_cell -type ip -vlnv [get reset.vlnv] $rst
    create_interconnect $cic 1 2
    create_interconnect $mic 2 1

    # --- control: PS master -> ctrl_ic -> engine registers, DMA registers
    connect_bd_intf_net [intf $ps/[bget ps.ctrl_port]] [intf $cic/S00_AXI]
    connect_bd_intf_net [intf $cic/M00_AXI] [intf $acc/[get accel.ctrl_intf]]
    connect_bd_intf_net [intf $cic/M01_AXI] [intf $dma/S_AXI_LITE]

    # --- streams: DMA MM2S -> engine -> DMA S2MM
    connect_bd_intf_net [intf $dma/M_AXIS_MM2S] [intf $acc/[get accel.in_intf]]
    connect_bd_intf_net [intf $acc/[get accel.out_intf]] [intf $dma/S_AXIS_S2MM]

    # --- data: DMA memory masters -> mem_ic -> PS HP0 (DDR)
    connect_bd_intf_net [intf $dma/M_AXI_MM2S] [intf $mic/S00_AXI]
    connect_bd_intf_net [intf $dma/M_AXI_S2MM] [intf $mic/S01_AXI]
    connect_bd_intf_net [intf $mic/M00_AXI] [intf $ps/[bget ps.data_port]]

    # --- one clock: FCLK0 / pl_clk0 at clk_mhz
    connect_bd_net [pin $ps/[bget ps.clk_pin]] \
        [pin $ps/[bget ps.ctrl_aclk]] \
        [pin $ps/[bget ps.data_aclk]] \
        [pin $acc/[get accel.clk_pin]] \
        [pin $dma/s_axi_lite_aclk] \
        [pin $dma/m_axi_mm2s_aclk] \
        [pin $dma/m_axi_s2mm_aclk] \
        [pin $cic/aclk] \
        [pin $mic/aclk] \
        [pin $rst/slowest_sync_clk]

    # --- resets: PS reset -> proc_sys_reset -> peripherals and interconnects
    connect_bd_net [pin $ps/[bget ps.resetn_pin]] [pin $rst/ext_reset_in]
    connect_bd_net [pin $rst/peripheral_aresetn] \
        [pin $acc/[get accel.resetn_pin]] \
        [pin $dma/axi_resetn]
    connect_bd_net [pin $rst/interconnect_aresetn] [pin $cic/aresetn] [pin $mic/aresetn]

    # --- address map (the driver reads it back from the .hwh; the mock uses the same values)
    set ps_space [get_bd_addr_spaces $ps/Data]
    assign_bd_address -offset [bget accel.base] -range [bget accel.range] \
        -target_address_space $ps_space [get_bd_addr_segs $acc/[get accel.ctrl_intf]/*]
    assign_bd_address -offset [bget dma.base] -range [bget dma.range] \
        -target_address_space $ps_space [get_bd_addr_segs $dma/S_AXI_LITE/Reg]
    foreach space {Data_MM2S Data_S2MM} {
        assign_bd_address -offset [bget ddr.base] -range [bget ddr.range] \
            -target_address_space [get_bd_addr_spaces $dma/$space] \
            [get_bd_addr_segs $ps/[bget ps.ddr_seg]]
    }
    # Whatever else the PS data port offers (OCM, ...) gets Vivado's default placement.
    assign_bd_address

    validate_bd_design
    save_bd_design

    # --- wrapper as the top; FuseSoC's scripts then synthesize, implement, write the bitstream
    set bd_file [get_files $design.bd]
    generate_target all $bd_file
    add_files -norecurse [make_wrapper -files $bd_file -top]
    set_property top ${design}_wrapper [current_fileset]
    update_compile_order -fileset sources_1
    puts "rtlcnn: block design $design for board [set rtlcnn::board] created"
}
