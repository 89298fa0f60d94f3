# SPDX-License-Identifier: Apache-2.0
# rtlcnn: the board-independent part of the overlay block design.
#
# Sourced by overlay/<board>/rtlcnn_bd.tcl after spec.tcl, inside a Vivado project that
# already holds the RTL (FuseSoC's project script reads hls_free_rtl/*.v first). The board
# script defines rtlcnn::create_ps (the processing system with the board preset), the PS
# settings rtlcnn::ps_switches (ports and clock on) and rtlcnn::ps_settings (what depends
# on them: widths, frequency), rtlcnn::ps_actual_clock (the parameter holding the clock the
# PS really makes), and calls rtlcnn::build.
# Every name, width, address and parameter comes from driver/board/overlay_spec.txt.
#
# Vivado can drop a setting without an error (a width set together with the switch that
# creates its port, a width it propagates from the connected interface), so after
# validate_bd_design rtlcnn::readback reads back every setting the driver depends on and
# stops the build on a difference.
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

# {NAME value ...} -> {CONFIG.NAME value ...}
proc rtlcnn::config {pairs} {
    set out {}
    foreach {name value} $pairs {
        lappend out CONFIG.$name $value
    }
    return $out
}

# The PS: the switches that create ports and clocks first, then, in a second set_property,
# what depends on them (Vivado ignores a port's width set in the same -dict as the switch
# that creates the port).
proc rtlcnn::configure_ps {ps} {
    set_property -dict [config [ps_switches]] $ps
    set_property -dict [config [ps_settings]] $ps
}

# The accelerator as a module reference, with the board's engine parameters.
proc rtlcnn::create_accel {} {
    set cell [create_bd_cell -type module -reference [get accel.module] [get accel.name]]
    set_property -dict [config [bdict engine.]] $cell
    return $cell
}

# The AXI DMA (PG021) in simple (register) mode with the description's stream and memory
# widths, length width and address width.
proc rtlcnn::dma_settings {} {
    return [list \
        c_include_sg                [get dma.include_sg] \
        c_sg_include_stscntrl_strm  0 \
        c_sg_length_width           [get dma.length_bits] \
        c_addr_width                [get dma.addr_bits] \
        c_include_mm2s              1 \
        c_include_s2mm              1 \
        c_m_axis_mm2s_tdata_width   [get dma.stream_bits] \
        c_s_axis_s2mm_tdata_width   [get dma.stream_bits] \
        c_m_axi_mm2s_data_width     [get dma.mm_bits] \
        c_m_axi_s2mm_data_width     [get dma.mm_bits] \
        c_mm2s_burst_size           [get dma.burst_beats] \
        c_s2mm_burst_size           [get dma.burst_beats] \
        c_include_mm2s_dre          [get dma.dre] \
        c_include_s2mm_dre          [get dma.dre] \
    ]
}

# Widths Vivado propagates into the DMA from what it is connected to, overriding the value
# set here, unless their VALUE_SRC is USER (set first, as hls4ml's PYNQ templates do).
proc rtlcnn::dma_user_params {} {
    return {c_m_axis_mm2s_tdata_width c_s_axis_s2mm_tdata_width c_m_axi_s2mm_data_width}
}

proc rtlcnn::create_dma {} {
    set cell [create_bd_cell -type ip -vlnv [get dma.vlnv] [get dma.name]]
    set src {}
    foreach p [dma_user_params] {
        lappend src CONFIG.$p.VALUE_SRC USER
    }
    set_property -dict $src $cell
    set_property -dict [config [dma_settings]] $cell
    return $cell
}

proc rtlcnn::create_interconnect {name num_si num_mi} {
    set cell [create_bd_cell -type ip -vlnv [get interconnect.vlnv] $name]
    set_property -dict [list CONFIG.NUM_SI $num_si CONFIG.NUM_MI $num_mi] $cell
    return $cell
}

# Exclude the PS data port's other segments (ps.exclude_segs) from the DMA's address spaces,
# so that the DMA sees DDR only. A segment this PS configuration lacks is skipped.
proc rtlcnn::exclude_segs {spaces} {
    set ps [bget ps.name]
    foreach name [bget ps.exclude_segs] {
        set seg [get_bd_addr_segs -quiet $ps/$name]
        if {[llength $seg] == 0} {
            puts "rtlcnn: $ps has no segment $name in this configuration: nothing to exclude"
            continue
        }
        foreach space $spaces {
            exclude_bd_addr_seg -target_address_space $space $seg
        }
    }
}

# Two property values agree: numerically when both are numbers (0x10000 = 65536), else as
# text (case-insensitive).
proc rtlcnn::same {have want} {
    if {[string is double -strict $have] && [string is double -strict $want]} {
        return [expr {$have == $want}]
    }
    return [string equal -nocase $have $want]
}

# The master segment through which $space maps the slave segment $seg ("" if none, or a
# list if several).
proc rtlcnn::mapped_seg {space seg} {
    set mine [get_bd_addr_segs -of_objects $space]
    set out {}
    foreach m [get_bd_addr_segs -addressing -of_objects $seg] {
        if {[lsearch -exact $mine $m] >= 0} {
            lappend out $m
        }
    }
    return $out
}

# After validation: read back every setting the driver and the mock board depend on (the
# DMA's mode, widths, length and address width; the PS ports, their widths and the clock;
# the engine parameters; the address map) and stop the build on any difference, naming the
# setting, the value wanted and the value Vivado has.
proc rtlcnn::readback {plan} {
    set bad {}
    set n 0
    foreach {cell pairs} [list \
            [get dma.name] [dma_settings] \
            [get accel.name] [bdict engine.] \
            [bget ps.name] [concat [ps_switches] [ps_settings]]] {
        set obj [get_bd_cells $cell]
        foreach {name want} $pairs {
            set have [get_property CONFIG.$name $obj]
            incr n
            if {![same $have $want]} {
                lappend bad "$cell CONFIG.$name: wanted $want, Vivado has '$have'"
            }
        }
    }
    # the clock the PS makes: its PLL cannot always hit the request exactly (ZCU104: 99.999 MHz)
    set ps [bget ps.name]
    set have [get_property CONFIG.[ps_actual_clock] [get_bd_cells $ps]]
    set want [bget clk_mhz]
    incr n
    if {![string is double -strict $have] || abs($have - $want) > 0.01 * $want} {
        lappend bad "$ps CONFIG.[ps_actual_clock]: wanted $want MHz (within 1 %), Vivado has '$have'"
    }
    foreach {space seg offset range} $plan {
        set m [mapped_seg $space $seg]
        incr n
        if {[llength $m] != 1} {
            lappend bad "address map: $seg is mapped [llength $m] times into $space, wanted once at $offset"
            continue
        }
        foreach {prop want} [list OFFSET $offset RANGE $range] {
            set have [get_property $prop $m]
            if {![same $have $want]} {
                lappend bad "address map: $m $prop: wanted $want, Vivado has '$have'"
            }
        }
    }
    if {[llength $bad]} {
        error "rtlcnn: after validate_bd_design the block design differs from the overlay description (driver/board/overlay_spec.txt) in settings the driver depends on:\n  [join $bad "\n  "]"
    }
    puts "rtlcnn: read back $n settings after validation: all as described"
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

    # --- address map (the driver reads it back from the .hwh; the mock uses the same values):
    # each segment a master reaches is assigned here or excluded, none is left to Vivado
    # (a bare assign_bd_address would map the DMA onto everything HP0 reaches)
    set ps_space [get_bd_addr_spaces $ps/Data]
    set dma_spaces [get_bd_addr_spaces [list $dma/Data_MM2S $dma/Data_S2MM]]
    set plan [list \
        $ps_space [get_bd_addr_segs $acc/[get accel.ctrl_intf]/*] [bget accel.base] [bget accel.range] \
        $ps_space [get_bd_addr_segs $dma/S_AXI_LITE/Reg] [bget dma.base] [bget dma.range]]
    foreach space $dma_spaces {
        lappend plan $space [get_bd_addr_segs $ps/[bget ps.ddr_seg]] [bget ddr.base] [bget ddr.range]
    }
    foreach {space seg offset range} $plan {
        assign_bd_address -offset $offset -range $range -target_address_space $space $seg
    }
    exclude_segs $dma_spaces

    # A segment a master reaches but neither assigned nor excluded is a critical warning of
    # validation ([BD 41-1356]; a later assign_bd_address would map it): make it stop the
    # build, as it stops the recording stand-in.
    set_msg_config -id {BD 41-1356} -new_severity ERROR
    validate_bd_design
    readback $plan
    save_bd_design

    # --- wrapper as the top; FuseSoC's scripts then synthesize, implement, write the bitstream
    set bd_file [get_files $design.bd]
    generate_target all $bd_file
    add_files -norecurse [make_wrapper -files $bd_file -top]
    set_property top ${design}_wrapper [current_fileset]
    update_compile_order -fileset sources_1
    puts "rtlcnn: block design $design for board [set rtlcnn::board] created"
}
