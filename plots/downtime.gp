# Downtime per workload configuration: Tukey box plots (box = quartiles,
# line = median, whiskers = furthest values within 1.5 IQR of the box,
# points = the values beyond), native in blue, CLR in orange.
#
# Parameters: datafile, out, fmt, plotdir (see common.gp); mode (for the
# title); n_native, n_clr = boxes of each class; n_outliers; logy = 1 for
# a log axis.
# datafile: block 0 the boxes, each line "x q1 whisker_low whisker_high q3
# median label class" in ms (class 0 native, 1 CLR); block 1 the outliers,
# "x ms".

if (!exists("width")) width = 1000
if (!exists("height")) height = 650
load plotdir . '/common.gp'
set title sprintf("Downtime per workload (%s mode)", mode) offset 0, 2
set ylabel 'downtime (ms)'
set grid ytics lc rgb '#dddddd'
set xrange [0.4:n_native + n_clr + 0.6]
set xtics nomirror scale 0 rotate by 45 right
set ytics nomirror
if (logy) { set logscale y } else { set yrange [0:*] }
set style fill solid 0.6 border lc rgb '#333333'
set boxwidth 0.55
set key at screen 0.5, 0.885 center horizontal samplen 2 width 2
set lmargin 16
set rmargin 4
set tmargin 5
in_class(c) = column(8) == c ? column(2) : NaN
plot datafile index 0 using 1:(in_class(0)):3:4:5 with candlesticks whiskerbars \
		lc rgb native_colour title (n_native ? 'native' : ''), \
	'' index 0 using 1:(in_class(1)):3:4:5 with candlesticks whiskerbars \
		lc rgb clr_colour title (n_clr ? 'CLR' : ''), \
	'' index 0 using 1:6:6:6:6 with candlesticks lc rgb '#000000' lw 2 notitle, \
	'' index 0 using 1:6:xtic(7) with points ps 0 notitle, \
	'' index 1 using 1:2 with points pt 6 ps 0.8 lc rgb '#333333' title (n_outliers ? 'outliers' : '')
