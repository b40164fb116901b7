# How each phase grows with the process: every migration of one mode as a
# point (resident size before the migration, time), and per class a line
# through the medians of half-octave bins of resident size.
#
# Parameters: datafile, medianfile, out, fmt, plotdir (see common.gp);
# mode (for the title); has = twelve 0/1, "class c of phase i has data" at
# position 2i + c + 1 (c: 0 native, 1 CLR); logy = six 0/1, a log time axis
# for phase i; xlo, xhi = the range of the size axis (logarithmic).
# Both files: blocks 2i + c of "rss_mib ms" lines.

if (!exists("width")) width = 1200
if (!exists("height")) height = 750
load plotdir . '/common.gp'
set grid lc rgb '#dddddd'
set xlabel 'resident memory (MiB)'
set ylabel 'time (ms)'
set logscale x 2
set xrange [xlo:xhi]
set key at screen 0.5, 0.935 center horizontal samplen 2 width 2
set multiplot layout 2, 3 margins 0.08, 0.98, 0.08, 0.86 spacing 0.09, 0.14 \
	title sprintf("Phase times against resident memory (%s mode; points: migrations, lines: medians)", mode)
on(i, c) = has[2 * i + c + 1:2 * i + c + 1] eq '1'
do for [i = 0:5] {
	set title phase_title(i)
	if (logy[i + 1:i + 1] eq '1') { set logscale y } else { unset logscale y; set yrange [0:*] }
	if (i == 0) { set key } else { unset key }
	if (on(i, 0) || on(i, 1)) {
		plot for [k = 1:on(i, 0)] datafile index 2 * i using 1:2 with points pt 7 ps 0.5 \
				lc rgb native_colour notitle, \
			for [k = 1:on(i, 0)] medianfile index 2 * i using 1:2 with linespoints lw 2 pt 5 ps 0.8 \
				lc rgb native_colour title 'native', \
			for [k = 1:on(i, 1)] datafile index 2 * i + 1 using 1:2 with points pt 9 ps 0.6 \
				lc rgb clr_colour notitle, \
			for [k = 1:on(i, 1)] medianfile index 2 * i + 1 using 1:2 with linespoints lw 2 pt 11 ps 0.9 \
				lc rgb clr_colour title 'CLR'
	} else {
		eval no_data_panel
	}
	set autoscale y
}
unset multiplot
