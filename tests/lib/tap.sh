# TAP output for the shell tests (sourced): numbered ok / not ok lines,
# check (one line for a command's status, its output as comments), bail.
# The caller prints the plan and exits non-zero when tap_failed is 1.

tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=1; echo "not ok $tap_n - $*"; }
check() { # DESCRIPTION COMMAND...: one TAP line for COMMAND's status
	# COMMAND's own output goes in as TAP comments (in this shell, so a
	# function COMMAND keeps its side effects)
	local what=$1 out st
	shift
	out=$(mktemp)
	"$@" > "$out"
	st=$?
	sed 's/^/# /' "$out"
	rm -f "$out"
	if [ "$st" -eq 0 ]; then ok "$what"; else not_ok "$what"; fi
}
bail() { echo "Bail out! $*"; exit 1; }
