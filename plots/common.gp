# Shared by the figure scripts (loaded with `load plotdir.'/common.gp'`):
# the output terminal, the class and mode colours, the phase titles.
#
# Parameters (gnuplot -e): fmt = 'png', 'svg' or 'pdf'; out = output file;
# optional width, height in pixels (default 1000 x 600; a PDF is drawn at
# the same proportions, 1 inch per 100 pixels).

if (!exists("width")) width = 1000
if (!exists("height")) height = 600
if (!exists("fmt")) fmt = 'png'

# noenhanced: workload names contain underscores, which enhanced text
# would turn into subscripts.
if (fmt eq 'png') {
	if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
		set terminal pngcairo size width, height font 'sans,12' noenhanced
	} else {
		set terminal png size width, height font 'sans,12' noenhanced
	}
}
if (fmt eq 'svg') {
	set terminal svg size width, height font 'sans,12' noenhanced background '#ffffff'
}
if (fmt eq 'pdf') {
	set terminal pdfcairo size (width / 100.0), (height / 100.0) font 'sans,9' noenhanced
}
set output out

# Okabe-Ito colours, distinguishable with the common colour blindnesses.
native_colour = '#0072B2'
clr_colour = '#E69F00'
stream_colour = '#009E73'
file_colour = '#CC79A7'
precopy_colour = '#D55E00'
# Any other mode: the colour of its place (1, 2, ...) among the modes drawn.
other_colours = '#56B4E9 #0072B2 #E69F00 #000000 #F0E442 #999999 #882255 #44AA99'
mode_colour(name, i) = name eq 'stream' ? stream_colour : name eq 'file' ? file_colour : \
	name eq 'precopy' ? precopy_colour : word(other_colours, i)

# The phases drawn, data block i = phase i.
phase_title(i) = i == 0 ? 'suspend' : i == 1 ? 'checkpoint' : i == 2 ? 'transfer' : \
	i == 3 ? 'address-space restore' : i == 4 ? 'context restore' : 'downtime'

# A panel whose data is absent still gets its frame, saying so.
no_data_panel = "set label 99 'no data' at graph 0.5, 0.5 center; set xrange [0:1]; set yrange [0:1]; " . \
	"unset xtics; unset ytics; plot 2 notitle; unset label 99; set xtics; set ytics; " . \
	"set autoscale x; set autoscale y"
