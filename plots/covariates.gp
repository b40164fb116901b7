# Why the phases differ: every migration of one mode as a point, the time
# of each claimed phase against the resident pages it moved (top row) and
# against its threads (bottom row), coloured by class.  The report's "Why
# the phases differ" fits these times against the amounts moved.
#
# Parameters: datafile, out, fmt, plotdir (see common.gp); mode (for the
# title); has = eight 0/1, "class c of phase i has points" at position
# 2i + c + 1 (c: 0 native, 1 CLR).  datafile: blocks 2i + c of
# "pages threads ms" lines, i over suspend, checkpoint, as_restore,
# ctx_restore.

if (!exists("width")) width = 1600
if (!exists("height")) height = 800
load plotdir . '/common.gp'
set grid lc rgb '#dddddd'
set ylabel 'time (ms)'
set key at screen 0.5, 0.93 center horizontal samplen 2 width 2
set multiplot layout 2, 4 margins 0.06, 0.98, 0.08, 0.86 spacing 0.06, 0.14 \
	title sprintf("Phase times against what was moved (%s mode; each point a migration)", mode)
on(i, c) = has[2 * i + c + 1:2 * i + c + 1] eq '1'
title_of(i) = i == 0 ? 'suspend' : i == 1 ? 'checkpoint' : i == 2 ? 'address-space restore' : 'context restore'
do for [col = 1:2] {
	do for [i = 0:3] {
		set title title_of(i)
		if (col == 1) { set xlabel 'resident pages moved'; set logscale x } else { set xlabel 'threads'; unset logscale x }
		set yrange [0:*]
		if (i == 0 && col == 1) { set key } else { unset key }
		if (on(i, 0) || on(i, 1)) {
			plot for [k = 1:on(i, 0)] datafile index 2 * i using col:3 with points pt 7 ps 0.5 \
					lc rgb native_colour title 'native', \
				for [k = 1:on(i, 1)] datafile index 2 * i + 1 using col:3 with points pt 9 ps 0.6 \
					lc rgb clr_colour title 'CLR'
		} else {
			eval no_data_panel
		}
	}
}
unset multiplot
