/* mapfile DIR: file mappings.  Creates DIR/private.dat (16 pages) and
 * DIR/shared.dat (4 pages), then maps:
 *   - private.dat MAP_PRIVATE read-write: pages 1, 5, 6 and 15 modified
 *     (copied on write), pages 0 and 2 only read, the rest never touched;
 *   - private.dat MAP_PRIVATE read-only from page 4 (file offset);
 *   - shared.dat MAP_SHARED read-write, page 0 written before "ready".
 * After the wake-up: the modified pages keep the modification; the others
 * show the file, and still follow it (a pwrite to the file after the
 * wake-up shows through pages 2 and 3, as it would had we never moved); the
 * offset mapping shows the file from page 4; /proc/self/maps names the files
 * with the same addresses, permissions and offsets; writes through the
 * shared mapping reach the file. */
#include <sys/mman.h>

#include "testprog.h"

#define PAGE 4096
#define PRIVATE_PAGES 16
#define SHARED_PAGES 4

static char dir[4096];

static void page_pattern(char *page, int file, int index)
{
	for (int i = 0; i < PAGE; i++)
		page[i] = (char)mix64(file * 100000 + index * PAGE + i);
}

static void fill_file(const char *path, int file, int pages)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0, path);
	char page[PAGE];
	for (int p = 0; p < pages; p++) {
		page_pattern(page, file, p);
		SETUP(write(fd, page, PAGE) == PAGE, "write data file");
	}
	close(fd);
}

static bool is_modified(int page)
{
	return page == 1 || page == 5 || page == 6 || page == 15;
}

/* The /proc/self/maps line of the mapping at ADDR, without the inode. */
static void maps_line(void *addr, char *out, size_t size)
{
	static char maps[65536];
	out[0] = '\0';
	ssize_t n = read_file("/proc/self/maps", maps, sizeof(maps) - 1);
	if (n <= 0)
		return;
	maps[n] = '\0';
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "%lx-", (unsigned long)addr);
	for (char *line = maps; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			/* start-end perms offset dev inode path: keep all but dev and inode */
			char range[64], perms[8], offset[32], dev[16], path[4200] = "";
			unsigned long inode;
			sscanf(line, "%63s %7s %31s %15s %lu %4199[^\n]", range, perms, offset, dev, &inode, path);
			snprintf(out, size, "%s %s %s %s", range, perms, offset, path);
			return;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2 || !realpath(argv[1], dir)) {
		say("FAIL: usage: mapfile DIR");
		return 2;
	}
	usr1_setup();
	char private_path[4200], shared_path[4200];
	snprintf(private_path, sizeof(private_path), "%s/private.dat", dir);
	snprintf(shared_path, sizeof(shared_path), "%s/shared.dat", dir);
	fill_file(private_path, 1, PRIVATE_PAGES);
	fill_file(shared_path, 2, SHARED_PAGES);

	int private_fd = open(private_path, O_RDWR);
	int shared_fd = open(shared_path, O_RDWR);
	SETUP(private_fd >= 0 && shared_fd >= 0, "open data files");
	char *priv = mmap(NULL, PRIVATE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, private_fd, 0);
	char *offset_map = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, private_fd, 4 * PAGE);
	char *shared = mmap(NULL, SHARED_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
	SETUP(priv != MAP_FAILED && offset_map != MAP_FAILED && shared != MAP_FAILED, "mmap");
	close(private_fd);
	close(shared_fd);

	for (int p = 0; p < PRIVATE_PAGES; p++)
		if (is_modified(p))
			memset(priv + p * PAGE, 'A' + p, PAGE);
	volatile char sink = priv[0] + priv[2 * PAGE] + offset_map[PAGE];
	(void)sink;
	memcpy(shared, "written before the migration", 28);

	char maps_before[3][4400];
	maps_line(priv, maps_before[0], sizeof(maps_before[0]));
	maps_line(offset_map, maps_before[1], sizeof(maps_before[1]));
	maps_line(shared, maps_before[2], sizeof(maps_before[2]));
	SETUP(strstr(maps_before[0], "private.dat") && strstr(maps_before[2], "shared.dat"), "maps lines");

	say("ready");
	usr1_wait();

	char maps_now[4400];
	void *addrs[3] = { priv, offset_map, shared };
	for (int i = 0; i < 3; i++) {
		maps_line(addrs[i], maps_now, sizeof(maps_now));
		CHECK(strcmp(maps_now, maps_before[i]) == 0, "maps line \"%s\", was \"%s\"", maps_now, maps_before[i]);
	}

	char page[PAGE];
	for (int p = 0; p < PRIVATE_PAGES; p++) {
		if (is_modified(p)) {
			memset(page, 'A' + p, PAGE);
		} else {
			page_pattern(page, 1, p);
		}
		CHECK(memcmp(priv + p * PAGE, page, PAGE) == 0, "private page %d %s", p,
		      is_modified(p) ? "lost its modification" : "no longer shows the file");
	}
	for (int p = 0; p < 4; p++) {
		/* a separate private mapping: the file, whatever the other one did */
		page_pattern(page, 1, 4 + p);
		CHECK(memcmp(offset_map + p * PAGE, page, PAGE) == 0, "offset mapping page %d", p);
	}

	/* Unmodified private pages still follow the file. */
	int fd = open(private_path, O_RDWR);
	CHECK(fd >= 0, "reopen private.dat");
	if (fd >= 0) {
		CHECK(pwrite(fd, "changed on disk", 15, 2 * PAGE) == 15 && pwrite(fd, "changed too", 11, 3 * PAGE) == 11,
		      "pwrite private.dat");
		CHECK(memcmp(priv + 2 * PAGE, "changed on disk", 15) == 0,
		      "page 2 (read, never written) no longer follows the file");
		CHECK(memcmp(priv + 3 * PAGE, "changed too", 11) == 0, "page 3 (never touched) no longer follows the file");
		CHECK(pwrite(fd, "changed again", 13, 5 * PAGE) == 13, "pwrite private.dat page 5");
		CHECK(priv[5 * PAGE] == 'A' + 5, "a modified private page follows the file");
		close(fd);
	}

	/* The shared mapping is the file. */
	CHECK(memcmp(shared, "written before the migration", 28) == 0, "shared page 0 lost its data");
	memcpy(shared + PAGE, "written after the migration", 27);
	CHECK(msync(shared, SHARED_PAGES * PAGE, MS_SYNC) == 0, "msync");
	fd = open(shared_path, O_RDONLY);
	char back[32] = { 0 };
	CHECK(fd >= 0 && pread(fd, back, 27, PAGE) == 27 && memcmp(back, "written after the migration", 27) == 0,
	      "write through the shared mapping did not reach the file (\"%s\")", back);
	CHECK(fd >= 0 && pread(fd, back, 28, 0) == 28 && memcmp(back, "written before the migration", 28) == 0,
	      "file lost the write made before the migration");
	if (fd >= 0)
		close(fd);
	for (int p = 2; p < SHARED_PAGES; p++) {
		page_pattern(page, 2, p);
		CHECK(memcmp(shared + p * PAGE, page, PAGE) == 0, "shared page %d", p);
	}
	return tp_finish();
}
