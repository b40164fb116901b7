# The study's figure: for each phase, native against CLR, mean time with
# its 95% confidence interval (Student t), per matched pair and pooled.
#
# Parameters: datafile, out, fmt, plotdir (see common.gp); subtitle (which
# rows: mode, size); panels = six
# characters, for block i: 'b' both series have data, '1' or '2' only that
# one, '0' neither; tops = six numbers, the top of each panel's time axis
# (histogram autoscaling ignores the error bars).
# datafile: six blocks (separated by two blank lines), one per phase; each
# line: "group label" native_mean native_low native_high clr_mean clr_low
# clr_high, in ms; '?' where a class has no data.

if (!exists("width")) width = 1400
if (!exists("height")) height = 1050
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
set key at screen 0.5, 0.955 center horizontal reverse Left samplen 1.5 width 2
set multiplot layout 3, 2 margins 0.07, 0.98, 0.07, 0.9 spacing 0.08, 0.12 title sprintf("Phase times, native vs CLR: mean and 95%% CI (%s)", subtitle)
do for [i = 0:5] {
	set title phase_title(i)
	if (i == 0) { set key } else { unset key }
	which = panels[i + 1:i + 1]
	set yrange [0:word(tops, i + 1) + 0]
	if (which eq 'b') {
		plot datafile index i using 2:3:4:xtic(1) title 'native' lc rgb native_colour, \
			'' index i using 5:6:7 title 'CLR' lc rgb clr_colour
	}
	if (which eq '1') {
		plot datafile index i using 2:3:4:xtic(1) title 'native' lc rgb native_colour
	}
	if (which eq '2') {
		plot datafile index i using 5:6:7:xtic(1) title 'CLR' lc rgb clr_colour
	}
	if (which eq '0') {
		eval no_data_panel
	}
}
unset multiplot
