# The migration modes against each other: for each phase and class, the
# mean time in each mode with its 95% confidence interval (Student t).
#
# Parameters: datafile, out, fmt, plotdir (see common.gp); modes = the
# modes compared, separated by spaces, in the data's order; present =
# six words, word i + 1 for block i: the numbers (1-based, one digit each)
# of the modes with data there ('13'), or '-' for none; tops = six
# numbers, the top of each panel's time axis (histogram autoscaling
# ignores the error bars).
# datafile: six blocks, one per phase; each line "class" then mean low
# high of each mode in turn, in ms; '?' where there is no data.

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
set key at screen 0.5, 0.93 center horizontal reverse Left samplen 1.5 width 2
n_modes = words(modes)
set multiplot layout 2, 3 margins 0.07, 0.98, 0.08, 0.84 spacing 0.07, 0.14 \
	title sprintf("Phase times by mode: %s (mean and 95%% CI, all workloads of a class)", modes)
# The key, in the first panel with data, names every mode (keyentry),
# also those without data in that panel.
keyed = 0
do for [i = 0:5] {
	set title phase_title(i)
	which = word(present, i + 1)
	set yrange [0:word(tops, i + 1) + 0]
	if (which ne '-') {
		if (keyed) { unset key } else { set key }
		plot for [k = 1:strlen(which)] datafile index i \
			using (column(3 * int(which[k:k]) - 1)):(column(3 * int(which[k:k]))):(column(3 * int(which[k:k]) + 1)):xtic(1) \
			notitle lc rgb mode_colour(word(modes, int(which[k:k])), int(which[k:k])), \
			for [m = 1:(keyed ? 0 : n_modes)] keyentry with boxes fs solid 0.85 border lc rgb '#333333' \
			lc rgb mode_colour(word(modes, m), m) title word(modes, m)
		keyed = 1
	} else {
		unset key
		eval no_data_panel
	}
}
unset multiplot
