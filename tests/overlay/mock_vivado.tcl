# SPDX-License-Identifier: Apache-2.0
# A recording stand-in for the Vivado Tcl commands the rtlcnn overlay scripts use.
#
# Nothing is built: each command is logged (one JSON object per line) and a model of the
# project and block design is kept, so tests/overlay can check the design the scripts
# describe. The model knows the pins of the Xilinx IPs the overlay uses (some exist only
# when the IP is configured to have them, as in Vivado), and takes a module reference's
# interfaces from the RTL read with read_verilog, so a misspelt pin, a missing port on the
# RTL top, a port used before it is enabled or a pin driven by two nets is an error here.
# A module reference must declare its clock and reset interfaces with X_INTERFACE_INFO /
# X_INTERFACE_PARAMETER attributes (each AXI interface associated with a clock that has a
# reset), as UG994 asks; the mock reads them with the ports.
#
# It also models what Vivado does without an error, so that the overlay's read-back after
# validate_bd_design has something to catch:
#   - a PS port width set in the same set_property as the switch that creates the port (or
#     before it) is ignored and keeps its default (mock::enabling_switch, mock::ip_default);
#   - at validation the AXI DMA's stream widths follow the connected module port's TDATA
#     width (read from the RTL's [N:0] range) unless CONFIG.<param>.VALUE_SRC is USER, and
#     differing stream widths are refused ([BD 41-237]); the PS's actual PL clock is set;
#   - get_property reads CONFIG.* of cells and OFFSET / RANGE of the master segments that
#     assign_bd_address makes (get_bd_addr_segs -of_objects <space>, -addressing);
#   - at validation every slave segment a master address space reaches (over the interface
#     nets, through the SmartConnects) must be assigned or excluded (exclude_bd_addr_seg),
#     else Vivado's [BD 41-1356]; a bare assign_bd_address is refused outright.
# Commands it does not know are errors too.
#
#   source mock_vivado.tcl
#   mock::configure log.jsonl 2024.1
#   ... source the project or block-design Tcl ...
#   mock::dump_state state.json

namespace eval mock {
    variable logfile ""
    variable version "2024.1"
    variable project ""
    variable props [dict create]      ;# object -> {property value ...}
    variable files {}                 ;# {kind path} pairs in read order
    variable modules [dict create]    ;# module name -> {ports {...} file path}
    variable design ""
    variable cells [dict create]      ;# cell name -> {kind ip|module vlnv ... module ...}
    variable intf_nets {}             ;# {a b} pairs
    variable nets {}                  ;# lists of pins
    variable pin_net [dict create]    ;# pin -> net index
    variable intf_used [dict create]  ;# intf pin -> 1
    variable addrs {}                 ;# {space seg offset range}: slave segments assigned into spaces
    variable excludes {}              ;# {space seg}: slave segments excluded from spaces
    variable bare_assign 0
    variable msg_config {}            ;# set_msg_config argument lists
    variable ignored {}               ;# {cell property value why}: settings the mock dropped, as Vivado would
    variable validated 0
    variable saved 0
    variable wrapper ""
    variable automation {}
    variable sourced {}
}

proc mock::configure {logpath vivado_version} {
    variable logfile
    variable version
    set logfile $logpath
    set version $vivado_version
    set f [open $logfile w]
    close $f
}

# ---------------------------------------------------------------------------- JSON output
proc mock::jstr {s} {
    set out [string map [list \\ \\\\ \" \\\" \n \\n \r \\r \t \\t] $s]
    return "\"$out\""
}
proc mock::jlist {items} {
    set parts {}
    foreach x $items {
        lappend parts [jstr $x]
    }
    return "\[[join $parts ,]\]"
}
proc mock::jdict {d} {
    set parts {}
    dict for {k v} $d {
        lappend parts "[jstr $k]:[jstr $v]"
    }
    return "\{[join $parts ,]\}"
}

proc mock::log {cmd args} {
    variable logfile
    if {$logfile eq ""} {
        return
    }
    set f [open $logfile a]
    puts $f "\{\"cmd\":[jstr $cmd],\"args\":[jlist $args]\}"
    close $f
}

proc mock::fail {msg} {
    log MOCK_ERROR $msg
    error "mock Vivado: $msg"
}

# ---------------------------------------------------------------------------- IP knowledge
# Each entry: a list of {kind name condition ?extra?}; kind intf|pin|space|seg; condition is
# "" or {PROPERTY value ...}: the cell must have been given CONFIG.<PROPERTY> = value (a value
# "!v": anything but v, unset included) for the object to exist. extra: for a space, the
# master interfaces that issue its addresses; for a segment, the slave interface it is
# reached through (default: the segment path's first part).
proc mock::ip_pins {vlnv cell} {
    set base [join [lrange [split $vlnv :] 0 2] :]
    set out {}
    switch -- $base {
        xilinx.com:ip:processing_system7 {
            foreach p {M_AXI_GP0 M_AXI_GP1} {
                lappend out [list intf $p [list PCW_USE_$p 1]]
                lappend out [list pin ${p}_ACLK [list PCW_USE_$p 1]]
            }
            foreach p {S_AXI_HP0 S_AXI_HP1 S_AXI_HP2 S_AXI_HP3 S_AXI_GP0 S_AXI_GP1 S_AXI_ACP} {
                lappend out [list intf $p [list PCW_USE_$p 1]]
                lappend out [list pin ${p}_ACLK [list PCW_USE_$p 1]]
            }
            # HPn_HIGH_OCM only with the high OCM mapped (PCW_USE_HIGH_OCM; the PYNQ-Z2 preset
            # leaves it 0 in PYNQ's base.tcl): unset here, so present, the stricter case
            foreach hp {0 1 2 3} {
                lappend out [list seg S_AXI_HP$hp/HP${hp}_DDR_LOWOCM [list PCW_USE_S_AXI_HP$hp 1]]
                lappend out [list seg S_AXI_HP$hp/HP${hp}_HIGH_OCM \
                    [list PCW_USE_S_AXI_HP$hp 1 PCW_USE_HIGH_OCM !0]]
            }
            foreach i {0 1 2 3} {
                lappend out [list pin FCLK_CLK$i [list PCW_EN_CLK${i}_PORT 1]]
                lappend out [list pin FCLK_RESET${i}_N [list PCW_EN_RST${i}_PORT 1]]
            }
            lappend out {intf DDR ""} {intf FIXED_IO ""} {space Data "" {M_AXI_GP0 M_AXI_GP1}}
        }
        xilinx.com:ip:zynq_ultra_ps_e {
            foreach {p n clk} {M_AXI_HPM0_FPD 0 maxihpm0_fpd_aclk M_AXI_HPM1_FPD 1 maxihpm1_fpd_aclk
                               M_AXI_HPM0_LPD 2 maxihpm0_lpd_aclk} {
                lappend out [list intf $p [list PSU__USE__M_AXI_GP$n 1]]
                lappend out [list pin $clk [list PSU__USE__M_AXI_GP$n 1]]
            }
            foreach {p n clk} {S_AXI_HPC0_FPD 0 saxihpc0_fpd_aclk S_AXI_HPC1_FPD 1 saxihpc1_fpd_aclk
                               S_AXI_HP0_FPD 2 saxihp0_fpd_aclk S_AXI_HP1_FPD 3 saxihp1_fpd_aclk
                               S_AXI_HP2_FPD 4 saxihp2_fpd_aclk S_AXI_HP3_FPD 5 saxihp3_fpd_aclk} {
                lappend out [list intf $p [list PSU__USE__S_AXI_GP$n 1]]
                lappend out [list pin $clk [list PSU__USE__S_AXI_GP$n 1]]
            }
            # the segments S_AXI_HP0_FPD (SAXIGP2) reaches; HP0_PCIE_LOW with PCIe enabled only
            # (an exported 2023.2 design with PCIe has it), unset here, so present
            foreach s {HP0_DDR_LOW HP0_DDR_HIGH HP0_LPS_OCM HP0_QSPI} {
                lappend out [list seg SAXIGP2/$s {PSU__USE__S_AXI_GP2 1} S_AXI_HP0_FPD]
            }
            lappend out [list seg SAXIGP2/HP0_PCIE_LOW \
                {PSU__USE__S_AXI_GP2 1 PSU__PCIE__PERIPHERAL__ENABLE !0} S_AXI_HP0_FPD]
            foreach i {0 1 2 3} {
                lappend out [list pin pl_clk$i [list PSU__FPGA_PL${i}_ENABLE 1]]
            }
            lappend out {pin pl_resetn0 ""} {space Data "" {M_AXI_HPM0_FPD M_AXI_HPM1_FPD M_AXI_HPM0_LPD}}
        }
        xilinx.com:ip:axi_dma {
            lappend out {intf S_AXI_LITE ""} {intf M_AXI_MM2S ""} {intf M_AXI_S2MM ""}
            lappend out {intf M_AXIS_MM2S ""} {intf S_AXIS_S2MM ""}
            lappend out {intf M_AXI_SG {c_include_sg 1}} {pin m_axi_sg_aclk {c_include_sg 1}}
            lappend out {pin s_axi_lite_aclk ""} {pin m_axi_mm2s_aclk ""} {pin m_axi_s2mm_aclk ""}
            lappend out {pin axi_resetn ""} {pin mm2s_introut ""} {pin s2mm_introut ""}
            lappend out {space Data_MM2S "" M_AXI_MM2S} {space Data_S2MM "" M_AXI_S2MM}
            lappend out {space Data_SG {c_include_sg 1} M_AXI_SG}
            lappend out {seg S_AXI_LITE/Reg ""}
        }
        xilinx.com:ip:smartconnect {
            set nsi [cellprop $cell NUM_SI 1]
            set nmi [cellprop $cell NUM_MI 1]
            for {set i 0} {$i < $nsi} {incr i} {
                lappend out [list intf [format S%02d_AXI $i] ""]
            }
            for {set i 0} {$i < $nmi} {incr i} {
                lappend out [list intf [format M%02d_AXI $i] ""]
            }
            lappend out {pin aclk ""} {pin aresetn ""}
        }
        xilinx.com:ip:proc_sys_reset {
            foreach p {slowest_sync_clk ext_reset_in aux_reset_in mb_debug_sys_rst dcm_locked
                       mb_reset bus_struct_reset peripheral_reset interconnect_aresetn
                       peripheral_aresetn} {
                lappend out [list pin $p ""]
            }
        }
        default {
            fail "no pin list for IP $vlnv (add it to mock_vivado.tcl)"
        }
    }
    return $out
}

# Interfaces of a module reference, inferred from its ports as Vivado does for the
# standard names: <prefix>_tdata... is AXI4-Stream, <prefix>_awaddr... memory mapped.
proc mock::module_pins {module} {
    variable modules
    set ports [dict get $modules $module ports]
    set out {}
    set claimed {}
    foreach p $ports {
        if {[regexp {^(.+)_tdata$} $p -> pre]} {
            foreach need {tdata tvalid tready} {
                if {[lsearch -exact $ports ${pre}_$need] < 0} {
                    fail "module $module: stream $pre lacks port ${pre}_$need"
                }
            }
            lappend out [list intf $pre ""]
            lappend claimed $pre
        } elseif {[regexp {^(.+)_awaddr$} $p -> pre]} {
            foreach need {awvalid awready wdata wstrb wvalid wready bresp bvalid bready
                          araddr arvalid arready rdata rresp rvalid rready} {
                if {[lsearch -exact $ports ${pre}_$need] < 0} {
                    fail "module $module: AXI interface $pre lacks port ${pre}_$need"
                }
            }
            lappend out [list intf $pre ""] [list seg $pre/reg0 ""]
            lappend claimed $pre
        }
    }
    foreach p $ports {
        set mine 0
        foreach pre $claimed {
            if {[string first ${pre}_ $p] == 0} {
                set mine 1
            }
        }
        if {!$mine} {
            lappend out [list pin $p ""]
        }
    }
    return $out
}

proc mock::cellprop {cell name default} {
    variable props
    set key cell:$cell
    if {[dict exists $props $key CONFIG.$name]} {
        return [dict get $props $key CONFIG.$name]
    }
    return $default
}

# The existing objects of one kind on a cell, honouring each one's enabling condition: their
# table entries.
proc mock::entries {cell kind} {
    variable cells
    if {![dict exists $cells $cell]} {
        fail "no cell '$cell' in the block design"
    }
    set c [dict get $cells $cell]
    if {[dict get $c kind] eq "module"} {
        set table [module_pins [dict get $c module]]
    } else {
        set table [ip_pins [dict get $c vlnv] $cell]
    }
    set out {}
    foreach entry $table {
        lassign $entry k name cond
        if {$k ne $kind} {
            continue
        }
        set ok 1
        foreach {prop want} $cond {
            set have [cellprop $cell $prop ""]
            if {[string index $want 0] eq "!" ? $have eq [string range $want 1 end] : $have ne $want} {
                set ok 0
            }
        }
        if {$ok} {
            lappend out $entry
        }
    }
    return $out
}

# The names of the existing objects of one kind on a cell.
proc mock::objects {cell kind} {
    return [lmap e [entries $cell $kind] {lindex $e 1}]
}

# Resolve "cell/name" (leading slash optional) against a kind; glob patterns allowed.
proc mock::lookup {kind path quiet} {
    set path [string trimleft $path /]
    set cell [lindex [split $path /] 0]
    set rest [join [lrange [split $path /] 1 end] /]
    set found {}
    foreach name [objects $cell $kind] {
        if {[string match $rest $name]} {
            lappend found /$cell/$name
        }
    }
    if {[llength $found] == 0 && !$quiet} {
        fail "no $kind '$rest' on cell '$cell' (it has: [join [objects $cell $kind] {, }])"
    }
    return $found
}

# ---------------------------------------------------------------------------- option parsing
# Split args into a dict of -options (those in $valued take a value) and the positionals.
proc mock::opts {argv valued} {
    set o [dict create]
    set pos {}
    for {set i 0} {$i < [llength $argv]} {incr i} {
        set a [lindex $argv $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a]} {
            if {[lsearch -exact $valued $a] >= 0} {
                incr i
                dict set o $a [lindex $argv $i]
            } else {
                dict set o $a 1
            }
        } else {
            lappend pos $a
        }
    }
    return [list $o $pos]
}

# ---------------------------------------------------------------------------- commands
proc version {args} {
    mock::log version {*}$args
    return $mock::version
}

proc set_param {args} {
    mock::log set_param {*}$args
}

proc create_project {args} {
    mock::log create_project {*}$args
    lassign [mock::opts $args {-part}] o pos
    set mock::project [lindex $pos 0]
    if {[dict exists $o -part]} {
        dict set mock::props project:$mock::project PART [dict get $o -part]
    }
    return $mock::project
}

proc current_project {args} {
    if {$mock::project eq ""} {
        mock::fail "current_project: no project open"
    }
    return project:$mock::project
}

proc get_projects {args} {
    if {$mock::project eq ""} {
        return {}
    }
    return [list project:$mock::project]
}

proc get_filesets {args} {
    return [lmap f $args {string cat fileset: $f}]
}

proc current_fileset {args} {
    return fileset:sources_1
}

proc get_runs {args} {
    return [lmap r $args {string cat run: $r}]
}

proc list_property {obj args} {
    return {}
}

# Settings whose port must exist before they take: a width set in the same set_property as
# the switch that creates its port (or before it) is ignored, so the switch must already be
# on when the width is set (#12). dependent-parameter pattern -> its switch.
proc mock::enabling_switch {vlnv param} {
    set base [join [lrange [split $vlnv :] 0 2] :]
    switch -- $base {
        xilinx.com:ip:processing_system7 {
            if {[regexp {^PCW_(S_AXI_HP[0-3])_DATA_WIDTH$} $param -> port]} {
                return PCW_USE_$port
            }
        }
        xilinx.com:ip:zynq_ultra_ps_e {
            if {[regexp {^PSU__SAXIGP([0-6])__DATA_WIDTH$} $param -> n]} {
                return PSU__USE__S_AXI_GP$n
            }
            if {[regexp {^PSU__MAXIGP([0-2])__DATA_WIDTH$} $param -> n]} {
                return PSU__USE__M_AXI_GP$n
            }
        }
    }
    return ""
}

# What an IP parameter reads when nothing set it (only those the overlay reads back; the
# mock's assumption of Vivado's defaults: Zynq-7000 HP ports 64 bits, UltraScale+ PS-PL
# ports 128 bits, AXI DMA streams 32 bits). "" when the mock does not know.
proc mock::ip_default {vlnv param} {
    set base [join [lrange [split $vlnv :] 0 2] :]
    switch -glob -- $base/$param {
        xilinx.com:ip:processing_system7/PCW_S_AXI_HP?_DATA_WIDTH { return 64 }
        xilinx.com:ip:zynq_ultra_ps_e/PSU__SAXIGP?__DATA_WIDTH { return 128 }
        xilinx.com:ip:zynq_ultra_ps_e/PSU__MAXIGP?__DATA_WIDTH { return 128 }
        xilinx.com:ip:axi_dma/c_m_axis_mm2s_tdata_width { return 32 }
        xilinx.com:ip:axi_dma/c_s_axis_s2mm_tdata_width { return 32 }
    }
    return ""
}

proc set_property {args} {
    mock::log set_property {*}$args
    if {[lindex $args 0] eq "-dict"} {
        set pairs [lindex $args 1]
        set objs [lindex $args 2]
    } else {
        set pairs [lrange $args 0 1]
        set objs [lindex $args 2]
    }
    if {[llength $objs] == 0} {
        mock::fail "set_property $args: no object"
    }
    foreach obj $objs {
        set cell [string range $obj 5 end]
        set kind ""
        if {[string match cell:* $obj]} {
            set kind [dict get $mock::cells $cell kind]
        }
        if {$kind eq "module"} {
            set params [dict get $mock::modules [dict get $mock::cells $cell module] params]
            foreach {k v} $pairs {
                if {[string match CONFIG.* $k] && [lsearch -exact $params [string range $k 7 end]] < 0} {
                    mock::fail "set_property $k on $cell: module [dict get $mock::cells $cell module] has no parameter [string range $k 7 end] (it has: [join $params {, }])"
                }
            }
        }
        # the switches as they were before this call
        set before [expr {[dict exists $mock::props $obj] ? [dict get $mock::props $obj] : {}}]
        foreach {k v} $pairs {
            # Vivado property names are case-insensitive; keep CONFIG.* as written.
            if {![string match CONFIG.* $k]} {
                set k [string toupper $k]
            }
            if {$kind eq "ip" && [string match CONFIG.* $k]} {
                set sw [mock::enabling_switch [dict get $mock::cells $cell vlnv] [string range $k 7 end]]
                if {$sw ne "" && !([dict exists $before CONFIG.$sw] && [dict get $before CONFIG.$sw] eq "1")} {
                    set why "its port's switch CONFIG.$sw was not on before this set_property"
                    lappend mock::ignored [list $cell $k $v $why]
                    mock::log MOCK_IGNORED $cell $k $v $why
                    puts "mock Vivado: $cell: $k $v ignored ($why), as Vivado ignores it"
                    continue
                }
            }
            dict set mock::props $obj $k $v
        }
    }
}

proc get_property {args} {
    lassign [mock::opts $args {}] o pos
    lassign $pos name obj
    mock::log get_property $name $obj
    if {![string match CONFIG.* $name]} {
        set name [string toupper $name]
    }
    if {[dict exists $mock::props $obj $name]} {
        return [dict get $mock::props $obj $name]
    }
    if {[string match cell:* $obj] && [string match CONFIG.* $name]} {
        set c [dict get $mock::cells [string range $obj 5 end]]
        if {[dict get $c kind] eq "ip"} {
            set d [mock::ip_default [dict get $c vlnv] [string range $name 7 end]]
            if {$d ne ""} {
                return $d
            }
        } else {
            # a module reference's parameter reads its Verilog default until set
            set defaults [dict get $mock::modules [dict get $c module] param_defaults]
            set p [string range $name 7 end]
            if {[dict exists $defaults $p] && [dict get $defaults $p] ne ""} {
                return [dict get $defaults $p]
            }
        }
    }
    if {[dict exists $o -quiet]} {
        return ""
    }
    mock::fail "get_property $name $obj: not set (and the mock does not know Vivado's value for it)"
}

proc mock::read_file {kind args} {
    mock::log $kind {*}$args
    lassign [mock::opts $args {-library}] o pos
    foreach path $pos {
        if {![file exists $path]} {
            mock::fail "$kind: no file $path"
        }
        lappend mock::files [list $kind $path]
        if {$kind eq "read_verilog"} {
            mock::parse_verilog $path
        }
    }
}
proc read_verilog {args} { mock::read_file read_verilog {*}$args }
proc read_vhdl {args} { mock::read_file read_vhdl {*}$args }
proc read_xdc {args} { mock::read_file read_xdc {*}$args }
proc read_mem {args} { mock::read_file read_mem {*}$args }

# Record every module's ANSI ports (name, width when its range is given in numbers or in the
# module's parameters, and the X_INTERFACE_* attributes written before it) and parameters.
proc mock::parse_verilog {path} {
    set f [open $path r]
    set text [read $f]
    close $f
    regsub -all {//[^\n]*} $text {} text
    regsub -all {/\*.*?\*/} $text {} text
    foreach {all name} [regexp -all -inline {\mmodule\s+(\w+)} $text] {
        set start [string first $all $text]
        # the header runs to the first ");" after the port list opens
        set hdr_end [string first ");" $text $start]
        set header [string range $text $start $hdr_end]
        set params [dict create]
        foreach {m pname} [regexp -all -inline {\mparameter\s+(?:integer\s+|\[[^\]]*\]\s*)?(\w+)} $header] {
            dict set params $pname ""
        }
        foreach {m pname pval} [regexp -all -inline \
                {\mparameter\s+(?:integer\s+|\[[^\]]*\]\s*)?(\w+)\s*=\s*([^,)]+)} $header] {
            dict set params $pname [string trim $pval]
        }
        set ports {}
        set widths [dict create]
        set attrs [dict create]
        set prev 0
        set re {\m(input|output|inout)\M(?:\s+(?:wire|reg|signed|logic))*\s*(\[[^\]]*\])?\s*(\w+)}
        foreach {span dspan rspan nspan} [regexp -all -inline -indices $re $header] {
            set pname [string range $header {*}$nspan]
            lappend ports $pname
            set range [string range $header {*}$rspan]
            dict set widths $pname [mock::range_width $range $params "$path: port $pname"]
            # the attribute instances between the previous port and this one are this port's
            set before [string range $header $prev [expr {[lindex $span 0] - 1}]]
            set pa [dict create]
            foreach {m body} [regexp -all -inline {\(\*(.*?)\*\)} $before] {
                foreach {m2 key val} [regexp -all -inline {(\w+)\s*=\s*"([^"]*)"} $body] {
                    dict set pa [string toupper $key] $val
                }
            }
            dict set attrs $pname $pa
            set prev [expr {[lindex $span 1] + 1}]
        }
        dict set mock::modules $name [dict create ports $ports params [dict keys $params] \
            param_defaults $params widths $widths attrs $attrs file $path]
    }
}

# The width of a port range "[msb:lsb]" (none: 1 bit). The bounds may use the module's
# parameters with their default values; "" when they cannot be worked out here.
proc mock::range_width {range params what} {
    if {$range eq ""} {
        return 1
    }
    if {![regexp {^\[\s*([^:]+):([^\]]+)\]$} $range -> msb lsb]} {
        return ""
    }
    set out {}
    foreach bound [list $msb $lsb] {
        set e [string trim $bound]
        dict for {k v} $params {
            regsub -all "\\m$k\\M" $e "($v)" e
        }
        if {![regexp {^[0-9()+\-*/ ]+$} $e] || [catch {expr $e} v]} {
            return ""
        }
        lappend out $v
    }
    return [expr {abs([lindex $out 0] - [lindex $out 1]) + 1}]
}

# A module reference's clock and reset interfaces, as Vivado reads them from the
# X_INTERFACE_INFO / X_INTERFACE_PARAMETER attributes (UG994, "Inferring Control Signals in
# a RTL Module"): {clocks {port {busifs {...} resets {...}} ...} resets {port polarity ...}}.
proc mock::signal_interfaces {module} {
    variable modules
    set m [dict get $modules $module]
    set clocks [dict create]
    set resets [dict create]
    dict for {port pa} [dict get $m attrs] {
        if {![dict exists $pa X_INTERFACE_INFO]} {
            continue
        }
        set info [dict get $pa X_INTERFACE_INFO]
        set par [dict create]
        if {[dict exists $pa X_INTERFACE_PARAMETER]} {
            foreach item [split [dict get $pa X_INTERFACE_PARAMETER] ,] {
                set item [string trim $item]
                if {$item eq ""} {
                    continue
                }
                set k [lindex [split $item " "] 0]
                dict set par [string toupper $k] [string trim [string range $item [string length $k] end]]
            }
        }
        if {[regexp {^xilinx\.com:signal:clock:1\.0\s+\S+\s+CLK$} $info]} {
            set busifs {}
            set rsts {}
            if {[dict exists $par ASSOCIATED_BUSIF]} {
                set busifs [split [dict get $par ASSOCIATED_BUSIF] :]
            }
            if {[dict exists $par ASSOCIATED_RESET]} {
                set rsts [split [dict get $par ASSOCIATED_RESET] :]
            }
            dict set clocks $port [dict create busifs $busifs resets $rsts]
        } elseif {[regexp {^xilinx\.com:signal:reset:1\.0\s+\S+\s+RST$} $info]} {
            set pol ""
            if {[dict exists $par POLARITY]} {
                set pol [dict get $par POLARITY]
            }
            dict set resets $port $pol
        }
    }
    return [dict create clocks $clocks resets $resets]
}

# Vivado's rule for a module reference with AXI interfaces (UG994): at least one clock must
# be associated with each AXI interface (ASSOCIATED_BUSIF), and the clock's reset
# (ASSOCIATED_RESET) must be a port declared as a reset, with the polarity of its name.
proc mock::check_module_interfaces {module} {
    set intfs {}
    foreach entry [module_pins $module] {
        if {[lindex $entry 0] eq "intf"} {
            lappend intfs [lindex $entry 1]
        }
    }
    if {[llength $intfs] == 0} {
        return
    }
    set si [signal_interfaces $module]
    set clocks [dict get $si clocks]
    set resets [dict get $si resets]
    set how "mark the clock port (* X_INTERFACE_INFO = \"xilinx.com:signal:clock:1.0 <clk> CLK\" *) (* X_INTERFACE_PARAMETER = \"ASSOCIATED_BUSIF [join $intfs :], ASSOCIATED_RESET <rst>\" *) and the reset port (* X_INTERFACE_INFO = \"xilinx.com:signal:reset:1.0 <rst> RST\" *) (* X_INTERFACE_PARAMETER = \"POLARITY ACTIVE_LOW\" *) (UG994)"
    if {[dict size $clocks] == 0} {
        fail "create_bd_cell -reference $module: the module has AXI interfaces ([join $intfs {, }]) but no port declared as a clock interface, so none has an associated clock; $how"
    }
    set covered {}
    dict for {clk c} $clocks {
        foreach b [dict get $c busifs] {
            if {[lsearch -exact $intfs $b] < 0} {
                fail "create_bd_cell -reference $module: clock $clk names ASSOCIATED_BUSIF $b, which is not an interface of the module (it has: [join $intfs {, }])"
            }
            lappend covered $b
        }
        if {[llength [dict get $c resets]] == 0} {
            fail "create_bd_cell -reference $module: clock $clk has no ASSOCIATED_RESET; $how"
        }
        foreach r [dict get $c resets] {
            if {![dict exists $resets $r]} {
                fail "create_bd_cell -reference $module: clock $clk names ASSOCIATED_RESET $r, which is not a port declared as a reset interface; $how"
            }
            set pol [dict get $resets $r]
            if {$pol ni {ACTIVE_LOW ACTIVE_HIGH}} {
                fail "create_bd_cell -reference $module: reset $r has no POLARITY (ACTIVE_LOW or ACTIVE_HIGH)"
            }
            if {[regexp {n$} $r] && $pol ne "ACTIVE_LOW"} {
                fail "create_bd_cell -reference $module: reset $r is named active low but declared POLARITY $pol"
            }
        }
    }
    foreach i $intfs {
        if {[lsearch -exact $covered $i] < 0} {
            fail "create_bd_cell -reference $module: AXI interface $i has no associated clock (no clock lists it in ASSOCIATED_BUSIF); $how"
        }
    }
}

# The real `source`, logged, so the order of reads and sources can be checked.
rename source mock::real_source
proc source {args} {
    mock::log source {*}$args
    lappend mock::sourced [lindex $args end]
    uplevel 1 [list mock::real_source {*}$args]
}

proc update_compile_order {args} { mock::log update_compile_order {*}$args }
proc report_ip_status {args} { mock::log report_ip_status {*}$args }

proc get_board_parts {args} {
    mock::log get_board_parts {*}$args
    return [lindex $args end]
}

proc create_bd_design {name} {
    mock::log create_bd_design $name
    if {$mock::project eq ""} {
        mock::fail "create_bd_design: no project open"
    }
    set mock::design $name
    return $name
}

proc current_bd_design {args} {
    mock::log current_bd_design {*}$args
    if {[llength $args] && [lindex $args 0] ne $mock::design} {
        mock::fail "current_bd_design [lindex $args 0]: no such design"
    }
    return $mock::design
}

proc create_bd_cell {args} {
    mock::log create_bd_cell {*}$args
    lassign [mock::opts $args {-type -vlnv -reference}] o pos
    set name [lindex $pos 0]
    if {$mock::design eq ""} {
        mock::fail "create_bd_cell $name: no block design"
    }
    if {[dict exists $mock::cells $name]} {
        mock::fail "create_bd_cell: cell $name exists"
    }
    switch -- [dict get $o -type] {
        ip {
            dict set mock::cells $name [dict create kind ip vlnv [dict get $o -vlnv]]
            mock::ip_pins [dict get $o -vlnv] $name
        }
        module {
            set module [dict get $o -reference]
            if {![dict exists $mock::modules $module]} {
                mock::fail "create_bd_cell -reference $module: no such module in the project sources (read: [join [dict keys $mock::modules] {, }])"
            }
            mock::check_module_interfaces $module
            dict set mock::cells $name [dict create kind module module $module \
                vlnv xilinx.com:module_ref:$module:1.0]
        }
        default {
            mock::fail "create_bd_cell: unsupported -type [dict get $o -type]"
        }
    }
    return cell:$name
}

proc mock::cellname {obj} {
    set obj [string trimleft $obj /]
    if {[string match cell:* $obj]} {
        set obj [string range $obj 5 end]
    }
    return $obj
}

proc get_bd_cells {args} {
    lassign [mock::opts $args {-filter -of_objects}] o pos
    if {[llength $pos] == 0} {
        return [lmap c [dict keys $mock::cells] {string cat cell: $c}]
    }
    set out {}
    foreach p $pos {
        set c [mock::cellname $p]
        if {[dict exists $mock::cells $c]} {
            lappend out cell:$c
        } elseif {![dict exists $o -quiet]} {
            mock::fail "get_bd_cells $p: no such cell"
        }
    }
    return $out
}

proc get_bd_pins {args} {
    lassign [mock::opts $args {}] o pos
    set out {}
    foreach p $pos { lappend out {*}[mock::lookup pin $p [dict exists $o -quiet]] }
    return $out
}

proc get_bd_intf_pins {args} {
    lassign [mock::opts $args {}] o pos
    set out {}
    foreach p $pos { lappend out {*}[mock::lookup intf $p [dict exists $o -quiet]] }
    return $out
}

proc get_bd_addr_spaces {args} {
    lassign [mock::opts $args {}] o pos
    set out {}
    # a list of patterns is as good as several arguments
    foreach p [concat {*}$pos] { lappend out {*}[mock::lookup space $p [dict exists $o -quiet]] }
    return $out
}

# Address segments. Slave segments are "/cell/<intf>/<name>" (from the IP tables); a slave
# segment assigned into (or excluded from) a master's address space gets a master segment
# "<space>/SEG_<slave cell>_<name>", as Vivado names them, with OFFSET and RANGE properties.
# -of_objects <space>: the space's master segments (-excluded: only the excluded ones);
# -addressing -of_objects <slave segment>: the master segments that map it (-excluded: that
# exclude it).
proc get_bd_addr_segs {args} {
    lassign [mock::opts $args {-of_objects -filter}] o pos
    set quiet [dict exists $o -quiet]
    set excluded [dict exists $o -excluded]
    set out {}
    if {[dict exists $o -of_objects]} {
        foreach x [dict get $o -of_objects] {
            if {[mock::is_space $x]} {
                foreach m [mock::master_segs] {
                    lassign $m name space seg state
                    if {$space eq $x && (!$excluded || $state eq "excluded")} {
                        lappend out $name
                    }
                }
            } elseif {[dict exists $o -addressing]} {
                foreach m [mock::master_segs] {
                    lassign $m name space seg state
                    if {$seg eq $x && ($excluded ? $state eq "excluded" : $state eq "assigned")} {
                        lappend out $name
                    }
                }
            } else {
                mock::fail "get_bd_addr_segs $args: -of_objects of $x is not modelled (an address space, or a slave segment with -addressing)"
            }
        }
        return $out
    }
    foreach p [concat {*}$pos] {
        set found {}
        if {[regexp {^/?[^/]+/[^/]+/SEG_[^/]+$} $p]} {
            foreach m [mock::master_segs] {
                if {[string match /[string trimleft $p /] [lindex $m 0]]} {
                    lappend found [lindex $m 0]
                }
            }
            if {[llength $found] == 0 && !$quiet} {
                mock::fail "get_bd_addr_segs $p: no such master segment (assign or exclude the slave segment first)"
            }
        } else {
            set found [mock::lookup seg $p $quiet]
        }
        lappend out {*}$found
    }
    return $out
}

proc mock::is_space {obj} {
    set parts [split [string trimleft $obj /] /]
    if {[llength $parts] != 2 || ![dict exists $mock::cells [lindex $parts 0]]} {
        return 0
    }
    return [expr {[lsearch -exact [objects [lindex $parts 0] space] [lindex $parts 1]] >= 0}]
}

proc mock::master_seg_name {space seg} {
    set parts [split [string trimleft $seg /] /]
    return "$space/SEG_[lindex $parts 0]_[lindex $parts end]"
}

# {master-segment space slave-segment assigned|excluded} of every mapping made so far.
proc mock::master_segs {} {
    set out {}
    foreach a $mock::addrs {
        lassign $a space seg
        lappend out [list [master_seg_name $space $seg] $space $seg assigned]
    }
    foreach e $mock::excludes {
        lassign $e space seg
        lappend out [list [master_seg_name $space $seg] $space $seg excluded]
    }
    return $out
}

proc apply_bd_automation {args} {
    mock::log apply_bd_automation {*}$args
    lassign [mock::opts $args {-rule -config}] o pos
    foreach c $pos {
        set c [mock::cellname $c]
        if {![dict exists $mock::cells $c]} {
            mock::fail "apply_bd_automation: no cell $c"
        }
        lappend mock::automation [list [dict get $o -rule] $c [dict get $o -config]]
    }
}

proc connect_bd_intf_net {args} {
    mock::log connect_bd_intf_net {*}$args
    lassign [mock::opts $args {-intf_net}] o pos
    if {[llength $pos] != 2 || [llength [lindex $pos 0]] != 1 || [llength [lindex $pos 1]] != 1} {
        mock::fail "connect_bd_intf_net needs exactly two interface pins, got: $pos"
    }
    foreach p $pos {
        if {[dict exists $mock::intf_used $p]} {
            mock::fail "connect_bd_intf_net: $p is already connected"
        }
        dict set mock::intf_used $p 1
    }
    lappend mock::intf_nets $pos
}

proc connect_bd_net {args} {
    mock::log connect_bd_net {*}$args
    lassign [mock::opts $args {-net}] o pos
    set pins {}
    foreach p $pos {
        lappend pins {*}$p
    }
    if {[llength $pins] < 2} {
        mock::fail "connect_bd_net needs at least two pins, got: $pos"
    }
    set idx [llength $mock::nets]
    foreach p $pins {
        if {[dict exists $mock::pin_net $p]} {
            mock::fail "connect_bd_net: $p is already on another net"
        }
        dict set mock::pin_net $p $idx
    }
    lappend mock::nets $pins
}

proc assign_bd_address {args} {
    mock::log assign_bd_address {*}$args
    lassign [mock::opts $args {-offset -range -target_address_space -with_name}] o pos
    if {[llength $pos] == 0} {
        set mock::bare_assign 1
        return
    }
    foreach k {-offset -range -target_address_space} {
        if {![dict exists $o $k] || [llength [dict get $o $k]] != 1} {
            mock::fail "assign_bd_address $args: $k must name exactly one value"
        }
    }
    set space [dict get $o -target_address_space]
    if {![mock::is_space $space]} {
        mock::fail "assign_bd_address: $space is not an address space"
    }
    foreach seg [concat {*}$pos] {
        mock::check_unmapped $space $seg assign_bd_address
        set off [dict get $o -offset]
        set rng [dict get $o -range]
        lappend mock::addrs [list $space $seg $off $rng]
        set m [mock::master_seg_name $space $seg]
        # Vivado reads the offset back in hex and the range in bytes
        dict set mock::props $m OFFSET [format [expr {$off < (1 << 32) ? "0x%08X" : "0x%012X"}] $off]
        dict set mock::props $m RANGE [format %d $rng]
    }
}

proc mock::check_unmapped {space seg cmd} {
    foreach m [master_segs] {
        lassign $m name sp sg state
        if {$sp eq $space && $sg eq $seg} {
            fail "$cmd: $seg is already $state in $space"
        }
    }
}

# exclude_bd_addr_seg -target_address_space <space> <slave segment>, or
# exclude_bd_addr_seg <master segment> (UG835): one segment, which must exist.
proc exclude_bd_addr_seg {args} {
    mock::log exclude_bd_addr_seg {*}$args
    lassign [mock::opts $args {-target_address_space -offset -range}] o pos
    set segs [concat {*}$pos]
    if {[llength $segs] != 1} {
        mock::fail "exclude_bd_addr_seg needs exactly one segment, got: '$pos'"
    }
    set seg [lindex $segs 0]
    if {[dict exists $o -target_address_space]} {
        set space [dict get $o -target_address_space]
        if {[llength $space] != 1 || ![mock::is_space $space]} {
            mock::fail "exclude_bd_addr_seg: -target_address_space '$space' is not one address space"
        }
        if {[llength [mock::lookup seg $seg 1]] != 1} {
            mock::fail "exclude_bd_addr_seg: no slave segment $seg"
        }
        mock::check_unmapped $space $seg exclude_bd_addr_seg
        lappend mock::excludes [list $space $seg]
        return
    }
    foreach a $mock::addrs {
        lassign $a space sg
        if {[mock::master_seg_name $space $sg] eq $seg} {
            set i [lsearch -exact $mock::addrs $a]
            set mock::addrs [lreplace $mock::addrs $i $i]
            lappend mock::excludes [list $space $sg]
            return
        }
    }
    mock::fail "exclude_bd_addr_seg $seg: no such assigned master segment"
}

proc set_msg_config {args} {
    mock::log set_msg_config {*}$args
    lappend mock::msg_config $args
}

# Parameters an IP takes from the interface it is connected to at validation unless
# CONFIG.<param>.VALUE_SRC is USER: {param interface ...}.
proc mock::propagated {vlnv} {
    set base [join [lrange [split $vlnv :] 0 2] :]
    switch -- $base {
        xilinx.com:ip:axi_dma {
            return {c_s_axis_s2mm_tdata_width S_AXIS_S2MM c_m_axis_mm2s_tdata_width M_AXIS_MM2S}
        }
    }
    return {}
}

# The interface pin at the other end of an interface net, or "".
proc mock::peer {pin} {
    foreach n $mock::intf_nets {
        lassign $n a b
        if {$a eq $pin} {
            return $b
        }
        if {$b eq $pin} {
            return $a
        }
    }
    return ""
}

# The TDATA width in bits of a module reference's stream interface /cell/intf, or "" when
# the pin is no module stream.
proc mock::module_stream_width {pin} {
    lassign [split [string trimleft $pin /] /] cell intf
    if {![dict exists $mock::cells $cell] || [dict get $mock::cells $cell kind] ne "module"} {
        return ""
    }
    set m [dict get $mock::modules [dict get $mock::cells $cell module]]
    if {![dict exists $m widths ${intf}_tdata]} {
        return ""
    }
    set w [dict get $m widths ${intf}_tdata]
    if {$w eq ""} {
        fail "cannot work out the TDATA width of $pin from the RTL's range of ${intf}_tdata"
    }
    return $w
}

# Validation: what Vivado settles here (propagated widths, the clock the PLL makes) and what
# it refuses (mismatched stream widths, segments neither assigned nor excluded).
proc validate_bd_design {args} {
    mock::log validate_bd_design {*}$args
    if {$mock::bare_assign} {
        mock::fail "validate_bd_design: a bare assign_bd_address was used: Vivado places every unmapped segment itself (the 32-bit DMA onto segments above 4 GiB, OCM, QSPI, ...); assign each segment explicitly and exclude the rest"
    }
    dict for {cell c} $mock::cells {
        if {[dict get $c kind] ne "ip"} {
            continue
        }
        foreach {param intf} [mock::propagated [dict get $c vlnv]] {
            set src [mock::cellprop $cell $param.VALUE_SRC ""]
            set w [mock::module_stream_width [mock::peer /$cell/$intf]]
            if {[string toupper $src] ne "USER" && $w ne ""} {
                dict set mock::props cell:$cell CONFIG.$param $w
                mock::log MOCK_PROPAGATED $cell CONFIG.$param $w
            }
        }
    }
    mock::check_stream_widths
    mock::set_actual_clocks
    mock::check_address_map
    set mock::validated 1
}

# [BD 41-237]: the TDATA widths of a module stream and the IP port it is connected to differ
# (a critical warning in Vivado; stricter here).
proc mock::check_stream_widths {} {
    dict for {cell c} $mock::cells {
        if {[dict get $c kind] ne "ip"} {
            continue
        }
        foreach {param intf} [propagated [dict get $c vlnv]] {
            set other [peer /$cell/$intf]
            set w [module_stream_width $other]
            if {$w eq ""} {
                continue
            }
            set mine [cellprop $cell $param [ip_default [dict get $c vlnv] $param]]
            if {$mine != $w} {
                fail "validate_bd_design: \[BD 41-237\] Bus Interface property TDATA_NUM_BYTES does not match between ${other}([expr {$w / 8}]) and /${cell}/${intf}([expr {$mine / 8}])"
            }
        }
    }
}

# The PL clock the PS makes for the requested one: Zynq-7000 exactly 100 MHz from its IO PLL
# (PYNQ-Z2 base.tcl: PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ 100.000000), UltraScale+ a little
# less (ZCU104 base.tcl: PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ 99.999001 for 100).
proc mock::set_actual_clocks {} {
    dict for {cell c} $mock::cells {
        set base [join [lrange [split [dict get $c vlnv] :] 0 2] :]
        switch -- $base {
            xilinx.com:ip:processing_system7 {
                set req PCW_FPGA0_PERIPHERAL_FREQMHZ
                set act PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ
                set factor 1.0
            }
            xilinx.com:ip:zynq_ultra_ps_e {
                set req PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ
                set act PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ
                set factor 0.99999001
            }
            default {
                continue
            }
        }
        set want [cellprop $cell $req ""]
        if {$want ne ""} {
            dict set mock::props cell:$cell CONFIG.$act [format %.6f [expr {$want * $factor}]]
        }
    }
}

# The slave segments a master address space reaches: from its master interfaces over the
# interface nets, through the interconnects, to the slave interfaces and their segments.
proc mock::reachable_segs {cell space_entry} {
    set masters [lindex $space_entry 3]
    set ics {}
    dict for {name c} $mock::cells {
        if {[string match xilinx.com:ip:smartconnect:* [dict get $c vlnv]]} {
            lappend ics $name
        }
    }
    set todo {}
    foreach m $masters {
        if {[lsearch -exact [objects $cell intf] $m] >= 0} {
            lappend todo /$cell/$m
        }
    }
    set seen $todo
    set ends {}
    while {[llength $todo]} {
        set pin [lindex $todo end]
        set todo [lrange $todo 0 end-1]
        set next {}
        set p [peer $pin]
        if {$p ne ""} {
            lappend next $p
        }
        set c [lindex [split [string trimleft $pin /] /] 0]
        if {[lsearch -exact $ics $c] >= 0} {
            foreach i [objects $c intf] {
                lappend next /$c/$i
            }
        } elseif {$c ne $cell || [lsearch -exact $masters [lindex [split $pin /] end]] < 0} {
            lappend ends $pin
        }
        foreach n $next {
            if {[lsearch -exact $seen $n] < 0} {
                lappend seen $n
                lappend todo $n
            }
        }
    }
    set out {}
    foreach pin [lsort -unique $ends] {
        lassign [split [string trimleft $pin /] /] c i
        foreach e [entries $c seg] {
            set owner [lindex $e 3]
            if {$owner eq ""} {
                set owner [lindex [split [lindex $e 1] /] 0]
            }
            if {$owner eq $i} {
                lappend out /$c/[lindex $e 1]
            }
        }
    }
    return $out
}

# Every segment a master address space reaches must be assigned or excluded (else Vivado's
# critical warning [BD 41-1356], and a later assign_bd_address maps it); nothing may be
# mapped that the space cannot reach; a DMA's segments must fit its address width.
proc mock::check_address_map {} {
    set missing {}
    dict for {cell c} $mock::cells {
        foreach e [entries $cell space] {
            set space /$cell/[lindex $e 1]
            set reach [reachable_segs $cell $e]
            set done {}
            foreach a $mock::addrs {
                lassign $a sp seg off rng
                if {$sp ne $space} {
                    continue
                }
                lappend done $seg
                if {[string match xilinx.com:ip:axi_dma:* [dict get $c vlnv]]} {
                    set bits [cellprop $cell c_addr_width 32]
                    if {$off + $rng > (1 << $bits)} {
                        fail "validate_bd_design: $seg at $off (+$rng) does not fit the $bits-bit address space $space"
                    }
                }
            }
            foreach x $mock::excludes {
                lassign $x sp seg
                if {$sp eq $space} {
                    lappend done $seg
                }
            }
            foreach seg $done {
                if {[lsearch -exact $reach $seg] < 0} {
                    fail "validate_bd_design: $seg is mapped into $space, which does not reach it (it reaches: [join $reach {, }])"
                }
            }
            foreach seg $reach {
                if {[lsearch -exact $done $seg] < 0} {
                    lappend missing "\[BD 41-1356\] Slave segment <$seg> is not assigned into address space <$space> (assign or exclude it)."
                }
            }
        }
    }
    if {[llength $missing]} {
        # a critical warning in Vivado, which the overlay Tcl makes an error
        fail "validate_bd_design: [join $missing { }]"
    }
}

proc save_bd_design {args} {
    mock::log save_bd_design {*}$args
    set mock::saved 1
}

proc get_files {args} {
    mock::log get_files {*}$args
    lassign [mock::opts $args {-of_objects -filter}] o pos
    set pat [lindex $pos 0]
    if {$mock::design ne "" && [string match $pat $mock::design.bd]} {
        return [list bdfile:$mock::design.bd]
    }
    if {[dict exists $o -quiet]} {
        return {}
    }
    mock::fail "get_files $pat: no such file"
}

proc generate_target {args} {
    mock::log generate_target {*}$args
    if {![string match bdfile:* [lindex $args end]]} {
        mock::fail "generate_target [lindex $args end]: not a block design file"
    }
}

proc make_wrapper {args} {
    mock::log make_wrapper {*}$args
    lassign [mock::opts $args {-files}] o pos
    if {![string match bdfile:* [dict get $o -files]]} {
        mock::fail "make_wrapper: -files must be a block design file"
    }
    set mock::wrapper ${mock::design}_wrapper
    return $mock::project.gen/sources_1/bd/$mock::design/hdl/${mock::design}_wrapper.v
}

proc add_files {args} {
    mock::log add_files {*}$args
    lassign [mock::opts $args {-fileset}] o pos
    foreach p $pos {
        lappend mock::files [list add_files $p]
    }
}

# Anything else is an error, so a new Vivado command in the scripts gets a stand-in here.
proc unknown {args} {
    mock::fail "command not modelled: [lindex $args 0] (args: [lrange $args 1 end])"
}

# ---------------------------------------------------------------------------- state dump
proc mock::dump_state {path} {
    variable cells
    variable props
    set parts {}
    lappend parts "\"project\":[jstr $mock::project]"
    set pd [dict create]
    if {$mock::project ne "" && [dict exists $props project:$mock::project]} {
        set pd [dict get $props project:$mock::project]
    }
    lappend parts "\"project_props\":[jdict $pd]"
    set fs [dict create]
    if {[dict exists $props fileset:sources_1]} {
        set fs [dict get $props fileset:sources_1]
    }
    lappend parts "\"fileset_props\":[jdict $fs]"
    lappend parts "\"files\":\[[join [lmap f $mock::files {jlist $f}] ,]\]"
    lappend parts "\"sourced\":[jlist $mock::sourced]"
    lappend parts "\"design\":[jstr $mock::design]"
    set cl {}
    dict for {name c} $cells {
        set cp [dict create]
        if {[dict exists $props cell:$name]} {
            set cp [dict get $props cell:$name]
        }
        set mod [expr {[dict exists $c module] ? [dict get $c module] : ""}]
        lappend cl "[jstr $name]:\{\"kind\":[jstr [dict get $c kind]],\"vlnv\":[jstr [dict get $c vlnv]],\"module\":[jstr $mod],\"props\":[jdict $cp]\}"
    }
    lappend parts "\"cells\":\{[join $cl ,]\}"
    set md {}
    dict for {name m} $mock::modules {
        lappend md "[jstr $name]:[jlist [dict get $m ports]]"
    }
    lappend parts "\"modules\":\{[join $md ,]\}"
    lappend parts "\"intf_nets\":\[[join [lmap n $mock::intf_nets {jlist $n}] ,]\]"
    lappend parts "\"nets\":\[[join [lmap n $mock::nets {jlist $n}] ,]\]"
    lappend parts "\"addrs\":\[[join [lmap a $mock::addrs {jlist $a}] ,]\]"
    lappend parts "\"excludes\":\[[join [lmap a $mock::excludes {jlist $a}] ,]\]"
    lappend parts "\"ignored\":\[[join [lmap a $mock::ignored {jlist $a}] ,]\]"
    lappend parts "\"msg_config\":\[[join [lmap a $mock::msg_config {jlist $a}] ,]\]"
    lappend parts "\"automation\":\[[join [lmap a $mock::automation {jlist $a}] ,]\]"
    lappend parts "\"bare_assign\":$mock::bare_assign"
    lappend parts "\"validated\":$mock::validated"
    lappend parts "\"saved\":$mock::saved"
    lappend parts "\"wrapper\":[jstr $mock::wrapper]"
    set f [open $path w]
    puts $f "\{[join $parts ,]\}"
    close $f
}
