# Downtime and total migration time against the process's memory, one
# line per migration mode and dirty rate: the median of the repetitions
# with their minimum and maximum as error bars (harness/figure-modes).
#
# Parameters: datafile, out, fmt, plotdir (see common.gp); titles = one
# quoted word per data block, "'stream, 1 %/s' ..."; modes = the modes, in
# the order of their colours, separated by spaces; xlo, xhi = the size
# axis's range in MiB.
# datafile: a block per mode and rate (in the order of titles), a line per
# size: size_mib, then median min max of the downtime, then median min max
# of the total time, in ms.

if (!exists("width")) width = 1400
if (!exists("height")) height = 620
load plotdir . '/common.gp'

n_blocks = words(titles)
# A block's mode is its title's first word without the comma.
block_mode(i) = word(word(titles, i), 1)[1:strlen(word(word(titles, i), 1)) - 1]
mode_index(name) = sum [k = 1:words(modes)] (word(modes, k) eq name ? k : 0)
block_colour(i) = mode_colour(block_mode(i), mode_index(block_mode(i)))
# The rates are told apart by dash and point type: the n-th block of a mode is its n-th rate.
block_rate(i) = sum [k = 1:i] (block_mode(k) eq block_mode(i) ? 1 : 0)

set logscale x 2
set xrange [xlo:xhi]
set logscale y 10
set xlabel 'process memory (MiB)'
set ylabel 'time (ms)'
set grid xtics ytics mxtics mytics lc rgb '#dddddd', lc rgb '#f0f0f0'
set xtics nomirror
set ytics nomirror
set key outside right top vertical Left reverse samplen 3 spacing 1.2
set multiplot layout 1, 2 margins 0.06, 0.84, 0.12, 0.88 spacing 0.07 \
	title "Migration time against memory size, by mode and dirty rate (median of the repetitions, bars: min to max)"
set title 'downtime (process frozen)'
unset key
plot for [i = 1:n_blocks] datafile index (i - 1) using 1:2:3:4 with yerrorlines \
	lw 2 lc rgb block_colour(i) dt block_rate(i) pt (4 + 2 * block_rate(i)) ps 1.2 title word(titles, i)
set title 'total migration time'
unset ylabel
set key
plot for [i = 1:n_blocks] datafile index (i - 1) using 1:5:6:7 with yerrorlines \
	lw 2 lc rgb block_colour(i) dt block_rate(i) pt (4 + 2 * block_rate(i)) ps 1.2 title word(titles, i)
unset multiplot
