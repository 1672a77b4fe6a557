/*
 * Replay driver: runs a fuzz target (test/fuzz/fuzz-*.c) on every file of
 * the directories or files named on the command line, or, with no
 * argument, of $top_srcdir/test/fuzz/corpus/<target>/ and
 * $top_srcdir/test/fuzz/regress/<target>/ (top_srcdir defaults to "."),
 * so that the targets build with any compiler, libFuzzer or not, and run
 * under "make check" in the plain and the sanitizer builds.
 *
 * Each input runs in a child process of its own, so one crash does not
 * hide the others, LeakSanitizer judges each input at the child's exit,
 * and a hang is cut after WSEV_REPLAY_TIMEOUT seconds (default 20).
 * WSEV_REPLAY_NOFORK=1 runs every input in this process instead (for a
 * debugger, or valgrind on a single input). Prints one line per failed
 * input and "N passed, M failed".
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct files {
	char **v;
	size_t n, cap;
};

static void
files_add(struct files *f, const char *path)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->v = realloc(f->v, f->cap * sizeof(*f->v));
		if (!f->v) {
			perror("realloc");
			exit(2);
		}
	}
	if (!(f->v[f->n++] = strdup(path))) {
		perror("strdup");
		exit(2);
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect path (a file) or the regular files directly in it (a
 * directory), sorted; -1 if it cannot be read. */
static int
collect(struct files *f, const char *path, int must_exist)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	size_t first = f->n;
	char buf[4096];

	if (stat(path, &st) < 0) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		files_add(f, path);
		return 0;
	}
	if (!(d = opendir(path))) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", path, de->d_name);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			files_add(f, buf);
	}
	closedir(d);
	qsort(f->v + first, f->n - first, sizeof(*f->v), cmp_str);
	return 0;
}

/* Read a whole file into an allocation of exactly its size, so that a
 * target reading past its input is an ASan report. */
static uint8_t *
slurp(const char *path, size_t *size)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data = NULL, *nd;
	size_t n = 0, cap = 0, r;

	if (!fp)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			if (!(nd = realloc(data, cap)))
				break;
			data = nd;
		}
		r = fread(data + n, 1, cap - n, fp);
		n += r;
		if (r == 0)
			break;
	}
	fclose(fp);
	if (!data)
		return NULL;
	/* Exactly n bytes (at least 1 to allocate). */
	nd = malloc(n ? n : 1);
	if (nd)
		memcpy(nd, data, n);
	free(data);
	*size = n;
	return nd;
}

static int
run_one(const char *path)
{
	uint8_t *data;
	size_t size = 0;

	if (!(data = slurp(path, &size))) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

/* Run one input in a child; returns 0 if it passed. */
static int
run_forked(const char *path, unsigned timeout)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		alarm(timeout);
		/* exit(), not _exit(): LeakSanitizer runs at exit. */
		exit(run_one(path) == 0 ? 0 : 3);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		printf("FAIL %s: %s%s\n", path, strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGALRM ? " (timed out)" : "");
	else
		printf("FAIL %s: exit status %d\n", path, WEXITSTATUS(status));
	return -1;
}

int
main(int argc, char **argv)
{
	struct files f = { NULL, 0, 0 };
	const char *top = getenv("top_srcdir");
	const char *e;
	unsigned timeout = 20;
	int nofork, i, passed = 0, failed = 0;
	char buf[4096];
	size_t k;

	setvbuf(stdout, NULL, _IOLBF, 0);
	nofork = (e = getenv("WSEV_REPLAY_NOFORK")) != NULL && *e == '1';
	if ((e = getenv("WSEV_REPLAY_TIMEOUT")) != NULL && atoi(e) > 0)
		timeout = (unsigned)atoi(e);
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (collect(&f, argv[i], 1) < 0)
				failed++;
	} else {
		if (!top || !*top)
			top = ".";
		snprintf(buf, sizeof(buf), "%s/test/fuzz/corpus/%s", top,
		    wsev_fuzz_target_name);
		if (collect(&f, buf, 1) < 0)
			failed++;
		snprintf(buf, sizeof(buf), "%s/test/fuzz/regress/%s", top,
		    wsev_fuzz_target_name);
		if (collect(&f, buf, 0) < 0)
			failed++;
	}
	if (f.n == 0 && failed == 0) {
		fprintf(stderr, "replay: no input for target %s\n",
		    wsev_fuzz_target_name);
		failed++;
	}
	printf("replay %s: %zu inputs\n", wsev_fuzz_target_name, f.n);
	for (k = 0; k < f.n; k++) {
		int r = nofork ? run_one(f.v[k]) : run_forked(f.v[k], timeout);

		if (r == 0)
			passed++;
		else
			failed++;
		free(f.v[k]);
	}
	free(f.v);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
