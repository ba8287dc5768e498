import socket, sys
host, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode('latin-1').decode('unicode_escape').encode('latin-1')
s = socket.create_connection((host, port), timeout=3)
s.sendall(data)
try:
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536): pass
except Exception: pass
s.close()
