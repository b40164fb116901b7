# Streamed against file-based migration: for each phase and class, the
# mean time in each mode with its 95% confidence interval (Student t).
#
# Parameters: datafile, out, fmt, plotdir (see common.gp); mode1, mode2
# (the two modes compared); panels = six
# characters, for block i: 'b' both series have data, '1' or '2' only that
# one, '0' neither; tops = six numbers, the top of each panel's time axis
# (histogram autoscaling ignores the error bars).
# datafile: six blocks, one per phase; each line "class" mean low high
# (mode1) mean low high (mode2), in ms; '?' where there is no data.

if (!exists("width")) width = 1200
if (!exists("height")) height = 750
load plotdir . '/common.gp'
set datafile missing '?'
set style data histograms
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.85 border lc rgb '#333333'
set boxwidth 0.9
set grid ytics lc rgb '#dddddd'
set ylabel 'time (ms)'
set xtics nomirror scale 0
set ytics nomirror
set key at screen 0.5, 0.935 center horizontal reverse Left samplen 1.5 width 2
set multiplot layout 2, 3 margins 0.07, 0.98, 0.08, 0.86 spacing 0.07, 0.14 \
	title sprintf("Phase times by transfer mode: %s vs %s (mean and 95%% CI, all workloads of a class)", mode1, mode2)
do for [i = 0:5] {
	set title phase_title(i)
	if (i == 0) { set key } else { unset key }
	which = panels[i + 1:i + 1]
	set yrange [0:word(tops, i + 1) + 0]
	if (which eq 'b') {
		plot datafile index i using 2:3:4:xtic(1) title mode1 lc rgb stream_colour, \
			'' index i using 5:6:7 title mode2 lc rgb file_colour
	}
	if (which eq '1') {
		plot datafile index i using 2:3:4:xtic(1) title mode1 lc rgb stream_colour
	}
	if (which eq '2') {
		plot datafile index i using 5:6:7:xtic(1) title mode2 lc rgb file_colour
	}
	if (which eq '0') {
		eval no_data_panel
	}
}
unset multiplot
