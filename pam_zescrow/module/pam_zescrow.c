/*
 * pam_zescrow.so — hand the login password to zescrow's hook, and return.
 *
 *   auth optional pam_zescrow.so [hook=PATH] [python=PATH] [HOOK ARGUMENTS…]
 *
 * The hook (pam_zescrow/hook.py) does the escrow; this module only starts
 * it. It replaces `pam_exec.so expose_authtok`, which had two faults that
 * no Python program started by it can mend (docs/pam.md):
 *
 *  - pam_exec prompts for a password itself ("Password: ") when the stack
 *    holds none: an account with an empty password under nullok, a
 *    fingerprint or smart-card login. A module of ours that only escrows
 *    must never ask for anything (S4). This one reads PAM_AUTHTOK with
 *    pam_get_item, which never prompts; no password, nothing to do.
 *  - pam_exec waits for the hook, and a Python interpreter's start (~8 ms of
 *    CPU) on every login's path cost a storm of logins on two cores a third
 *    more time (bench/login --storm). This module puts the password in a
 *    pipe, starts the hook in a grandchild at idle CPU and I/O priority, and
 *    returns at once: the login waits for two forks, not for Python.
 *
 * It never changes a login's outcome (S4): every path returns PAM_IGNORE.
 * The password goes only into the pipe: never argv, the environment or a
 * file. The hook's arguments (conf=, state_dir=, logfile=, budget=, debug)
 * are passed through as they are; the hook ignores what it does not know.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#ifndef ZESCROW_PYTHON
#define ZESCROW_PYTHON "/usr/bin/python3"
#endif
#ifndef ZESCROW_HOOK
#define ZESCROW_HOOK "/usr/lib/python3/dist-packages/pam_zescrow/hook.py"
#endif

/* The hook reads at most 1024 bytes and says when a password is longer than
 * eCryptfs allows; PAM answers are at most 512 (PAM_MAX_RESP_SIZE). Either
 * way it is below PIPE_BUF, so one write to the empty pipe never blocks. */
#define MAX_PASSWORD 1025
#define MAX_HOOK_ARGS 16
#define SAFE_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

/* ioprio_set(2) has no glibc wrapper; the values are the kernel's ABI. */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13

#define EXPORT __attribute__((visibility("default")))

struct launch {
	const char *python;
	char *argv[MAX_HOOK_ARGS + 6];
	char *envp[4];
};

/* Everything the grandchild needs is made before the fork: the login
 * program may have threads, and after a fork only async-signal-safe calls
 * are allowed (no malloc, no syslog). */
static int prepare(pam_handle_t *pamh, const char *user, int argc, const char **argv,
		   struct launch *l, int *debug)
{
	const char *hook = ZESCROW_HOOK;
	int n = 0, i;

	l->python = ZESCROW_PYTHON;
	l->argv[n++] = "python3";
	l->argv[n++] = "-I";  /* no environment, no user site: the hook trusts neither */
	l->argv[n++] = "-S";  /* no site: the hook finds its package by its own path */
	l->argv[n++] = NULL;  /* the hook's path, once the arguments are read */
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "hook=", 5) == 0 && argv[i][5] == '/') {
			hook = argv[i] + 5;
		} else if (strncmp(argv[i], "python=", 7) == 0 && argv[i][7] == '/') {
			l->python = argv[i] + 7;
		} else if (n < MAX_HOOK_ARGS + 4) {
			if (strcmp(argv[i], "debug") == 0)
				*debug = 1;
			l->argv[n++] = (char *)argv[i];
		} else {
			pam_syslog(pamh, LOG_WARNING, "more than %d arguments: %s and later ones ignored",
				   MAX_HOOK_ARGS, argv[i]);
			break;
		}
	}
	l->argv[3] = (char *)hook;
	l->argv[n] = NULL;

	/* A missing hook or interpreter is said here, where syslog still works:
	 * the grandchild could only exit silently. Checked with the effective ids
	 * (under su run by a user the real uid is theirs), as the hook will run. */
	if (faccessat(AT_FDCWD, l->python, X_OK, AT_EACCESS) != 0 ||
	    faccessat(AT_FDCWD, hook, R_OK, AT_EACCESS) != 0) {
		pam_syslog(pamh, LOG_ERR, "user %s: not escrowed: cannot run %s %s (%m); "
			   "reinstall zescrow-client or fix hook=/python= in pam.d", user,
			   l->python, hook);
		return -1;
	}
	/* The hook trusts only PAM_USER and PAM_TYPE from its environment, as
	 * pam_exec sets them; nothing else of the login program's goes along. */
	if (asprintf(&l->envp[0], "PAM_USER=%s", user) < 0) {
		l->envp[0] = NULL;
		pam_syslog(pamh, LOG_ERR, "user %s: not escrowed: out of memory", user);
		return -1;
	}
	l->envp[1] = "PAM_TYPE=auth";
	l->envp[2] = SAFE_PATH;
	l->envp[3] = NULL;
	return 0;
}

/* In the grandchild: become the hook. Only async-signal-safe calls. All
 * signals are blocked on entry (see pam_sm_authenticate). */
static void become_hook(int password_fd, const struct launch *l)
{
	struct sched_param idle = {0};
	struct rlimit no_core = {0, 0};
	sigset_t none;
	int null, sig, fd;

	/* The login program's handlers are not ours: reset them while every signal
	 * is still blocked, so that none of them ever runs in this process. */
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();
	/* Idle first: from here on, logins always come before zescrow's work. */
	sched_setscheduler(0, SCHED_IDLE, &idle);
	syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
	/* No core file of anything that holds the password (the limit survives exec). */
	setrlimit(RLIMIT_CORE, &no_core);
	/* pam_exec's `seteuid`: the hook runs as the effective user (root in
	 * login, su, sshd) and drops to the user itself; none of the caller's
	 * groups go along. */
	if (geteuid() == 0 && setgroups(0, NULL) != 0)
		_exit(1);
	if (setgid(getegid()) != 0 || setuid(geteuid()) != 0)
		_exit(1);
	umask(077);
	/* The login program's signal mask is not the hook's. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* A login program with fd 0, 1 or 2 closed got the pipe as one of them:
	 * move it out of the way first (the copy has no close-on-exec). */
	fd = password_fd <= 2 ? fcntl(password_fd, F_DUPFD, 3) : password_fd;
	if (fd < 0 || dup2(fd, 0) != 0)
		_exit(1);
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 1) != 1 || dup2(null, 2) != 2)
		_exit(1);
	/* None of the login program's descriptors (its sockets, its terminal). */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
		int fd, max = (int)sysconf(_SC_OPEN_MAX);

		for (fd = 3; fd < max; fd++)
			close(fd);
	}
	execve(l->python, l->argv, l->envp);
	_exit(127);
}

EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const void *item = NULL;
	const char *user, *password;
	struct launch l;
	sigset_t all, old;
	int debug = 0, fds[2], status;
	size_t len;
	pid_t pid;

	(void)flags;
	if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || item == NULL)
		return PAM_IGNORE;
	user = item;
	memset(&l, 0, sizeof l);
	if (prepare(pamh, user, argc, argv, &l, &debug) != 0)
		goto out;

	item = NULL;
	if (pam_get_item(pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS || item == NULL ||
	    *(const char *)item == '\0') {
		/* A login without a password (nullok, fingerprint, smart card), or
		 * the module placed before the one that asks for it: never prompt. */
		if (debug)
			pam_syslog(pamh, LOG_DEBUG, "user %s: no password in the stack: nothing to "
				   "escrow (is pam_zescrow.so after the module that asks for it?)",
				   user);
		goto out;
	}
	password = item;
	len = strnlen(password, MAX_PASSWORD);

	/* The password is in the pipe before the fork, while this process still
	 * holds the read end: the write cannot block, nor raise SIGPIPE in the
	 * login program if the hook never starts. */
	if (pipe2(fds, O_CLOEXEC) != 0) {
		pam_syslog(pamh, LOG_ERR, "user %s: not escrowed: pipe: %m", user);
		goto out;
	}
	if (write(fds[1], password, len) != (ssize_t)len) {
		pam_syslog(pamh, LOG_ERR, "user %s: not escrowed: write to the hook's pipe: %m", user);
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	close(fds[1]);  /* the hook reads to the end of the pipe */

	/* Two forks, so that the hook is init's child, not the login program's:
	 * the login program never sees it exit (no SIGCHLD, no zombie). Every
	 * signal is blocked across them: a handler of the login program must
	 * never run in a child that holds its descriptors and memory. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		pid_t grandchild = fork();

		if (grandchild == 0)
			become_hook(fds[0], &l);
		_exit(grandchild < 0 ? 1 : 0);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(fds[0]);
	if (pid < 0) {
		pam_syslog(pamh, LOG_ERR, "user %s: not escrowed: fork: %m", user);
		goto out;
	}
	/* The intermediate child exits at once; its exit is all we wait for. A
	 * login program that reaps every child itself may take it first (ECHILD). */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
out:
	free(l.envp[0]);
	return PAM_IGNORE;
}

EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}
