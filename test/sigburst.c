/*
 * sigburst.c: sends a signal to a process as fast as kill() goes, for
 * test/sigevents_spec.lua's burst (a shell loop of kill is far slower).
 *
 *   sigburst PID SIGNUM COUNT   prints "sent N" (the kill() calls that succeeded)
 *
 * Exit status 0 if every kill() succeeded, 1 otherwise, 2 on bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

int main(int argc, char **argv) {
    long pid, sig, count, i, sent = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: %s PID SIGNUM COUNT\n", argv[0]);
        return 2;
    }
    pid = strtol(argv[1], NULL, 10);
    sig = strtol(argv[2], NULL, 10);
    count = strtol(argv[3], NULL, 10);
    if (pid <= 1 || sig <= 0 || count < 0) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    for (i = 0; i < count; i++)
        if (kill((pid_t)pid, (int)sig) == 0) sent++;
    printf("sent %ld\n", sent);
    return sent == count ? 0 : 1;
}
