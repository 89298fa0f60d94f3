# SPDX-License-Identifier: Apache-2.0
# rtlcnn: read the overlay description (driver/board/overlay_spec.txt) in plain Tcl 8.6.
#
# The same rules as rtlcnn.overlay_spec.parse: one `key value` per line, `#` lines and blank
# lines skipped, the value is the rest of the line trimmed, duplicate keys are errors.
# No Vivado command is used here, so tclsh runs it too (tests/overlay does).

namespace eval rtlcnn {
    variable spec [dict create]
    variable board ""
}

# Parse a description file into a dict.
proc rtlcnn::read_spec {path} {
    set f [open $path r]
    fconfigure $f -encoding utf-8
    set text [read $f]
    close $f
    set d [dict create]
    set lineno 0
    foreach line [split $text "\n"] {
        incr lineno
        set line [string trim $line]
        if {$line eq "" || [string index $line 0] eq "#"} {
            continue
        }
        if {![regexp {^(\S+)\s+(.*)$} $line -> key value]} {
            error "$path:$lineno: key '$line' has no value"
        }
        if {[dict exists $d $key]} {
            error "$path:$lineno: duplicate key '$key'"
        }
        dict set d $key [string trim $value]
    }
    return $d
}

# Load the description and select the board whose keys `bget` reads.
proc rtlcnn::load_spec {path board_name} {
    variable spec
    variable board
    set spec [read_spec $path]
    if {[dict get $spec format] != 1} {
        error "overlay description $path has format [dict get $spec format], this Tcl reads format 1"
    }
    if {![dict exists $spec board.$board_name.part]} {
        error "overlay description $path has no board '$board_name'"
    }
    set board $board_name
    return $spec
}

# A global key of the description; an error names the missing key.
proc rtlcnn::get {key} {
    variable spec
    if {![dict exists $spec $key]} {
        error "overlay description has no key '$key'"
    }
    return [dict get $spec $key]
}

# A key of the selected board (board.<board>.<key>).
proc rtlcnn::bget {key} {
    variable board
    return [get board.$board.$key]
}

# The board keys under a prefix as a flat list {name value ...}, in file order
# (e.g. bdict engine. -> {P_OC 16 P_IC 8 ...}).
proc rtlcnn::bdict {prefix} {
    variable spec
    variable board
    set pre board.$board.$prefix
    set out {}
    dict for {k v} $spec {
        if {[string first $pre $k] == 0} {
            lappend out [string range $k [string length $pre] end] $v
        }
    }
    return $out
}
