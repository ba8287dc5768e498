"""Portainer stand-in: `standin [PORTAINER ARGS...]` serves :9000; `standin agent` serves :9001.

Only the arguments that matter to the stack are understood: --admin-password-file (required, as the
stack gives it; the file must be readable and not empty, as Portainer requires), -H and
--tlsskipverify (recorded). Anything else is refused, as Portainer refuses unknown flags.
"""
import hashlib
import http.server
import json
import sys


def parse(args):
    opts = {"admin_password_file": None, "host": None, "tlsskipverify": False}
    i = 0
    while i < len(args):
        a = args[i]
        key, _, value = a.partition("=")
        if key in ("--admin-password-file", "-H", "--host"):
            if not value:
                i += 1
                if i >= len(args):
                    sys.exit(f"portainer-standin: {a} needs a value")
                value = args[i]
            opts["admin_password_file" if key == "--admin-password-file" else "host"] = value
        elif a == "--tlsskipverify":
            opts["tlsskipverify"] = True
        else:
            sys.exit(f"portainer-standin: unknown flag {a}")
        i += 1
    return opts


def serve(port, page):
    body = json.dumps(page, indent=1).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))
            sys.stdout.flush()

    print(f"portainer-standin: listening on :{port}", flush=True)
    http.server.ThreadingHTTPServer(("", port), Handler).serve_forever()


def main():
    if sys.argv[1:] == ["agent"]:
        serve(9001, {"standin": "portainer-agent"})
        return
    opts = parse(sys.argv[1:])
    path = opts["admin_password_file"]
    if not path:
        sys.exit("portainer-standin: refusing to start without --admin-password-file "
                 "(the first visitor would choose the admin password)")
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError as e:
        sys.exit(f"portainer-standin: cannot read the admin password file {path}: {e}")
    if not content.strip():
        sys.exit(f"portainer-standin: the admin password file {path} is empty")
    serve(9000, {
        "standin": "portainer",
        "admin_password_file": path,
        "admin_password_sha256": hashlib.sha256(content).hexdigest(),
        "host": opts["host"],
        "tlsskipverify": opts["tlsskipverify"],
    })


if __name__ == "__main__":
    main()
