#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "figures.h"
#include "paths.h"

const char *const plot_figure_names[PLOT_FIGURES] = { "study", "scaling", "downtime", "modes", "covariates" };
const char *const plot_figure_titles[PLOT_FIGURES] = {
	"Phase times, native vs CLR (mean, 95% CI)",
	"Phase times against resident memory",
	"Downtime per workload",
	"Phase times by mode",
	"Phase times against resident pages and threads",
};

/* No figure may take gnuplot longer than this. */
#define GNUPLOT_TIMEOUT_MS 60000

__attribute__((format(printf, 3, 4))) static enum plot_outcome failed(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return PLOT_FAILED;
}

int plot_find_gnuplot(char *path, size_t len)
{
	const char *env = getenv("GNUPLOT");
	if (env && *env) {
		snprintf(path, len, "%s", env);
		return access(path, X_OK) == 0 ? 0 : -ENOENT;
	}
	const char *search = getenv("PATH");
	if (!search)
		search = "/usr/local/bin:/usr/bin:/bin";
	for (const char *dir = search;; dir++) {
		const char *end = strchrnul(dir, ':');
		/* An empty PATH entry means the current directory. */
		int n = end == dir ? snprintf(path, len, "./gnuplot")
				   : snprintf(path, len, "%.*s/gnuplot", (int)(end - dir), dir);
		if (n > 0 && (size_t)n < len && access(path, X_OK) == 0)
			return 0;
		if (!*end)
			break;
		dir = end;
	}
	return -ENOENT;
}

static bool has_scripts(const char *dir)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/study.gp", dir);
	return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* The scripts: in the directory given, else in plots/ of the source tree. */
static int find_scripts(const char *given, char *dir, size_t len)
{
	if (given) {
		snprintf(dir, len, "%s", given);
		return has_scripts(dir) ? 0 : -ENOENT;
	}
	char root[PATH_MAX];
	if (find_in_tree("plots/study.gp", root, sizeof root) < 0)
		return -ENOENT;
	int n = snprintf(dir, len, "%s/plots", root);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* Appends NAME='VALUE' to a gnuplot -e string, doubling quotes as gnuplot's
 * single-quoted strings want. */
static void param(char *buf, size_t len, const char *name, const char *value)
{
	size_t used = strlen(buf);
	used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s='", name);
	for (const char *p = value; *p && used + 3 < len; p++) {
		if (*p == '\'')
			buf[used++] = '\'';
		buf[used++] = *p;
	}
	if (used + 3 < len)
		snprintf(buf + used, len - used, "'; ");
}

/* Runs gnuplot on SCRIPT with PARAMS, killing it after the time limit.
 * 0 on success, a negative errno, or 1 when gnuplot reported an error. */
static int run_gnuplot(const char *gnuplot, const char *script, const char *params)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		execl(gnuplot, "gnuplot", "-e", params, script, (char *)NULL);
		_exit(127);
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int ready;
		do
			ready = poll(&pfd, 1, GNUPLOT_TIMEOUT_MS);
		while (ready < 0 && errno == EINTR);
		close(pidfd);
		if (ready == 0)
			kill(pid, SIGKILL);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return -ETIMEDOUT;
	return WEXITSTATUS(status) == 0 ? 0 : 1;
}

static bool gnuplot_has_pdf(const char *gnuplot)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl(gnuplot, "gnuplot", "-e", "exit status (strstrt(GPVAL_TERMINALS, 'pdfcairo') > 0 ? 0 : 1)",
		      (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- drawing ---- */

struct drawing {
	char gnuplot[PATH_MAX], scripts[PATH_MAX], data_dir[PATH_MAX];
	const char *out_dir;
	bool pdf;
};

static FILE *open_data(const struct drawing *dr, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s.dat", dr->data_dir, name);
	return fopen(path, "w");
}

static int close_data(FILE *f)
{
	int rc = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Draws FIGURE in each format with the parameters EXTRA. */
static enum plot_outcome draw(const struct drawing *dr, const char *figure, const char *extra, char *err,
			      size_t errlen)
{
	static const char *const formats[] = { "png", "svg", "pdf" };
	char script[PATH_MAX + 64];
	snprintf(script, sizeof script, "%s/%s.gp", dr->scripts, figure);
	for (size_t i = 0; i < 3; i++) {
		if (i == 2 && !dr->pdf)
			continue;
		char out[PATH_MAX + 64], params[8192] = "";
		snprintf(out, sizeof out, "%s/%s.%s", dr->out_dir, figure, formats[i]);
		param(params, sizeof params, "fmt", formats[i]);
		param(params, sizeof params, "out", out);
		param(params, sizeof params, "plotdir", dr->scripts);
		strncat(params, extra, sizeof params - strlen(params) - 1);
		int rc = run_gnuplot(dr->gnuplot, script, params);
		if (rc == -ETIMEDOUT)
			return failed(err, errlen, "gnuplot took over %d s on %s; killed", GNUPLOT_TIMEOUT_MS / 1000, out);
		if (rc < 0)
			return failed(err, errlen, "cannot run %s: %s", dr->gnuplot, strerror(-rc));
		if (rc > 0)
			return failed(err, errlen, "gnuplot failed drawing %s (its message is above)", out);
	}
	return PLOT_DONE;
}

static enum plot_outcome plot_all(struct drawing *dr, struct figure_data *d, const char *const *modes,
				  size_t n_modes, char *err, size_t errlen)
{
	char path[PATH_MAX + 64], path2[PATH_MAX + 64], extra[4096], tops[FIGURE_PHASES * 24];
	enum plot_outcome outcome;

	struct study_layout study;
	FILE *f = open_data(dr, "study", path, sizeof path);
	if (!f)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(errno));
	int rc = figure_study(f, d, &study);
	int closed = close_data(f);
	if (rc || closed)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(-(rc ? rc : closed)));
	extra[0] = '\0';
	param(extra, sizeof extra, "datafile", path);
	param(extra, sizeof extra, "subtitle", study.subtitle);
	param(extra, sizeof extra, "panels", study.panels);
	figure_format_tops(tops, sizeof tops, study.top);
	param(extra, sizeof extra, "tops", tops);
	/* Two panels side by side, about 120 pixels per group of bars; room
	 * for labels of three lines. */
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "width=%zu; height=%d; ",
		 study.n_groups > 5 ? 200 + 2 * 120 * study.n_groups : 1400, study.three_lines ? 1200 : 1050);
	if ((outcome = draw(dr, "study", extra, err, errlen)))
		return outcome;

	struct scaling_layout scaling;
	FILE *pf = open_data(dr, "scaling-points", path, sizeof path);
	FILE *lf = open_data(dr, "scaling-medians", path2, sizeof path2);
	if (!pf || !lf) {
		if (pf)
			fclose(pf);
		if (lf)
			fclose(lf);
		return failed(err, errlen, "cannot write %s: %s", pf ? path2 : path, strerror(errno));
	}
	rc = figure_scaling(pf, lf, d, &scaling);
	closed = close_data(pf);
	int closed2 = close_data(lf);
	if (rc || closed || closed2)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(-(rc ? rc : closed ? closed : closed2)));
	extra[0] = '\0';
	param(extra, sizeof extra, "datafile", path);
	param(extra, sizeof extra, "medianfile", path2);
	param(extra, sizeof extra, "mode", d->mode);
	param(extra, sizeof extra, "has", scaling.has);
	param(extra, sizeof extra, "logy", scaling.logy);
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "xlo=%.6g; xhi=%.6g; ", scaling.xlo, scaling.xhi);
	if ((outcome = draw(dr, "scaling", extra, err, errlen)))
		return outcome;

	struct downtime_layout downtime;
	f = open_data(dr, "downtime", path, sizeof path);
	if (!f)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(errno));
	rc = figure_downtime(f, d, &downtime);
	closed = close_data(f);
	if (rc || closed)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(-(rc ? rc : closed)));
	int boxes = downtime.n_native + downtime.n_clr;
	extra[0] = '\0';
	param(extra, sizeof extra, "datafile", path);
	param(extra, sizeof extra, "mode", d->mode);
	/* About 55 pixels per box. */
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		 "n_native=%d; n_clr=%d; n_outliers=%d; logy=%d; width=%d; ", downtime.n_native, downtime.n_clr,
		 downtime.n_outliers, downtime.logy, boxes > 15 ? 175 + 55 * boxes : 1000);
	if (boxes && (outcome = draw(dr, "downtime", extra, err, errlen)))
		return outcome;

	struct covariates_layout covariates;
	f = open_data(dr, "covariates", path, sizeof path);
	if (!f)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(errno));
	rc = figure_covariates(f, d, &covariates);
	closed = close_data(f);
	if (rc || closed)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(-(rc ? rc : closed)));
	extra[0] = '\0';
	param(extra, sizeof extra, "datafile", path);
	param(extra, sizeof extra, "mode", d->mode);
	param(extra, sizeof extra, "has", covariates.has);
	if (covariates.any && (outcome = draw(dr, "covariates", extra, err, errlen)))
		return outcome;

	if (n_modes < 2)
		return PLOT_DONE;
	struct modes_layout by_mode;
	f = open_data(dr, "modes", path, sizeof path);
	if (!f)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(errno));
	rc = figure_modes(f, d, modes, n_modes, &by_mode);
	closed = close_data(f);
	if (rc || closed)
		return failed(err, errlen, "cannot write %s: %s", path, strerror(-(rc ? rc : closed)));
	extra[0] = '\0';
	param(extra, sizeof extra, "datafile", path);
	char names[MODES_MAX * 64] = "";
	for (size_t m = 0; m < n_modes; m++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? " " : "", modes[m]);
	param(extra, sizeof extra, "modes", names);
	char present[FIGURE_PHASES * (MODES_MAX + 1)] = "";
	for (int p = 0; p < FIGURE_PHASES; p++)
		snprintf(present + strlen(present), sizeof present - strlen(present), "%s%s", p ? " " : "",
			 by_mode.present[p]);
	param(extra, sizeof extra, "present", present);
	figure_format_tops(tops, sizeof tops, by_mode.top);
	param(extra, sizeof extra, "tops", tops);
	return draw(dr, "modes", extra, err, errlen);
}

enum plot_outcome plot_results(const struct results *r, const struct group_set *groups,
			       const struct plot_options *o, char *err, size_t errlen)
{
	struct drawing dr = { .out_dir = o->out_dir };
	if (plot_find_gnuplot(dr.gnuplot, sizeof dr.gnuplot) < 0) {
		snprintf(err, errlen, "gnuplot not found; install gnuplot-nox");
		return PLOT_NO_GNUPLOT;
	}
	if (find_scripts(o->plots_dir, dr.scripts, sizeof dr.scripts) < 0) {
		snprintf(err, errlen, "the gnuplot scripts (plots/study.gp) are not found%s%s; give --plots DIR",
			 o->plots_dir ? " in " : "", o->plots_dir ? o->plots_dir : "");
		return PLOT_BAD_INPUT;
	}
	if (!groups->n) {
		snprintf(err, errlen, "%s: no successful migrations to draw", r->path);
		return PLOT_BAD_INPUT;
	}
	const char *modes[MODES_MAX];
	size_t n_modes = modes_present(groups, modes, MODES_MAX);
	struct figure_data d = { .r = r, .groups = groups, .mode = o->mode ? o->mode : modes[0] };
	bool known = false;
	for (size_t i = 0; i < n_modes; i++)
		known |= !strcmp(modes[i], d.mode);
	if (!known) {
		snprintf(err, errlen, "%s: no successful migrations in mode %s", r->path, d.mode);
		return PLOT_BAD_INPUT;
	}
	snprintf(dr.data_dir, sizeof dr.data_dir, "%s/data", o->out_dir);
	int rc = make_dirs(dr.data_dir);
	if (rc < 0)
		return failed(err, errlen, "cannot create %s: %s", dr.data_dir, strerror(-rc));
	rc = pairs_select(groups, o->pairs, d.mode, &d.sel);
	if (rc < 0)
		return failed(err, errlen, "out of memory");
	dr.pdf = gnuplot_has_pdf(dr.gnuplot);
	enum plot_outcome outcome = plot_all(&dr, &d, modes, n_modes, err, errlen);
	figure_data_free(&d);
	return outcome;
}
