"""Whatever a mirror does, it is one failed attempt and the next mirror is
tried: servers that do not speak HTTP, broken bodies, local sources that
are not files.  Credentials in a mirror's URL are never shown."""
import base64
import hashlib
import http.server
import os
import socketserver
import threading

import pytest

from helpers import Mirror
from logreg_mnist.files import download
from logreg_mnist.errors import DataError

USER, PASSWORD = 'alice', 'pw-Xq7-hunter2'


class Local(socketserver.ThreadingTCPServer):
    """A loopback server whose connections ``Handler`` answers; given a
    function instead, each connection is handed to it."""
    daemon_threads = True

    def __init__(self, Handler):
        if not isinstance(Handler, type):
            answer = Handler

            class Handler(socketserver.BaseRequestHandler):
                def handle(self):
                    try:
                        answer(self.request)
                    except OSError:
                        pass
        super().__init__(('127.0.0.1', 0), Handler)
        self.port = self.server_address[1]
        self.url = 'http://127.0.0.1:%d/' % self.port
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


def request(conn):
    """Read an HTTP request's head from ``conn``."""
    head = b''
    while b'\r\n\r\n' not in head:
        more = conn.recv(4096)
        if not more:
            break
        head += more
    return head


def ssh(conn):
    conn.sendall(b'SSH-2.0-OpenSSH_9.6\r\n')
    request(conn)


def bad_chunk_size(conn):
    request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'zz\r\nhello\r\n')


def cut_chunk(conn):
    request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'1000\r\nonly a few bytes')


def hang_up(conn):
    request(conn)


def long_reason(conn):
    request(conn)
    conn.sendall(b'HTTP/1.1 503 ' + b'x' * 5000 +
                 b'\r\nContent-Length: 0\r\n\r\n')


def ftp_echoing_the_password(conn):
    """An FTP server whose refusal repeats the command it refuses."""
    conn.sendall(b'220 ready\r\n')
    lines = conn.makefile('rb')
    for line in lines:
        if line.startswith(b'USER'):
            conn.sendall(b'331 password please\r\n')
        else:
            conn.sendall(b'530 refused: ' + line.strip() + b'\r\n')
            return


@pytest.fixture
def servers():
    """Start servers with ``servers(answer)`` (see ``Local``) or
    ``servers(files)`` (see ``Mirror``); all are closed at the end."""
    started = []

    def start(what):
        started.append(Mirror(what) if isinstance(what, dict) else
                       Local(what))
        return started[-1]
    yield start
    for server in started:
        server.close()


@pytest.fixture
def only_local(monkeypatch):
    """Built-in mirrors on a closed port, short network timeouts."""
    monkeypatch.setattr(download, 'MNIST_PKL_URLS',
                        ['http://127.0.0.1:9/mnist.pkl.gz'])
    monkeypatch.setattr(download, 'IDX_MIRRORS', ['http://127.0.0.1:9/'])
    monkeypatch.setattr(download, 'TIMEOUT', 10)


@pytest.fixture
def small_pkl(monkeypatch):
    """A small stand-in for mnist.pkl.gz, which the checks accept."""
    body = os.urandom(3000)
    monkeypatch.setattr(download, 'MNIST_PKL_SIZE', len(body))
    monkeypatch.setattr(download, 'MNIST_PKL_MD5',
                        hashlib.md5(body).hexdigest())
    return body


def mirrors(monkeypatch, *urls):
    monkeypatch.setenv(download.MIRRORS_VARIABLE, ' '.join(urls))


def test_an_ssh_server_then_a_good_mirror(tmp_path, monkeypatch, servers,
                                          only_local, small_pkl):
    mirrors(monkeypatch, servers(ssh).url,
            servers({'mnist.pkl.gz': small_pkl}).url)
    path = download.fetch_mnist(str(tmp_path))
    assert path == str(tmp_path / 'mnist.pkl.gz')
    assert (tmp_path / 'mnist.pkl.gz').read_bytes() == small_pkl


def test_a_broken_chunked_body_then_a_good_mirror(tmp_path, monkeypatch,
                                                  servers, only_local,
                                                  small_pkl):
    mirrors(monkeypatch, servers(bad_chunk_size).url, servers(cut_chunk).url,
            servers({'mnist.pkl.gz': small_pkl}).url)
    assert download.fetch_mnist(str(tmp_path)) == str(
        tmp_path / 'mnist.pkl.gz')
    assert os.listdir(tmp_path) == ['mnist.pkl.gz']


def test_only_bad_mirrors_make_one_short_error(tmp_path, monkeypatch,
                                               servers, only_local, capsys):
    bad = [servers(answer).url for answer in
           (ssh, bad_chunk_size, cut_chunk, hang_up, long_reason)]
    mirrors(monkeypatch, *bad)
    with pytest.raises(DataError) as e:
        download.fetch_mnist(str(tmp_path))
    message = str(e.value)
    assert message.startswith('MNIST is not in %s' % tmp_path)
    for url in bad:
        assert url + 'mnist.pkl.gz (' in message
        assert url + 'train-images-idx3-ubyte.gz (' in message
    assert 'Traceback' not in message and '\n' not in message
    assert 'x' * 201 not in message      # the server's reason is cut
    assert len(message) < 6000
    assert os.listdir(tmp_path) == []
    assert 'Traceback' not in capsys.readouterr().err


def test_credentials_are_used_and_never_shown(tmp_path, monkeypatch,
                                              servers, only_local,
                                              small_pkl, capsys):
    token = base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()

    class Guarded(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get('Authorization') != 'Basic ' + token:
                self.send_response(401)
                self.send_header('WWW-Authenticate', 'Basic realm="mnist"')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(200)
            self.send_header('Content-Length', str(len(small_pkl)))
            self.end_headers()
            self.wfile.write(small_pkl)

        def log_message(self, *args):
            pass
    url = servers(Guarded).url.replace('//', '//%s:%s@' % (USER, PASSWORD))
    mirrors(monkeypatch, url)
    assert download.fetch_mnist(str(tmp_path)) == str(
        tmp_path / 'mnist.pkl.gz')
    out, err = capsys.readouterr()
    assert 'Downloading data from http://***@127.0.0.1:' in out
    assert PASSWORD not in out + err


def test_credentials_stay_out_of_the_error(tmp_path, monkeypatch, servers,
                                           only_local, capsys):
    ftp = servers(ftp_echoing_the_password)
    urls = ['ftp://%s:%s@127.0.0.1:%d/' % (USER, PASSWORD, ftp.port),
            servers(ssh).url.replace('//', '//%s:%s@' % (USER, PASSWORD)),
            'http://%s@127.0.0.1:9/' % PASSWORD]   # a token as user name
    mirrors(monkeypatch, *urls)
    with pytest.raises(DataError) as e:
        download.fetch_mnist(str(tmp_path))
    out, err = capsys.readouterr()
    assert PASSWORD not in str(e.value) + out + err
    assert 'ftp://***@127.0.0.1:%d/mnist.pkl.gz (' % ftp.port in str(e.value)
    assert '530 refused: PASS ***' in str(e.value)   # the server's answer


def test_a_malformed_mirror_hides_its_password(tmp_path, monkeypatch):
    mirrors(monkeypatch, 'https://%s:%s@host:port/' % (USER, PASSWORD))
    with pytest.raises(DataError) as e:
        download.fetch_mnist(str(tmp_path))
    assert str(e.value).startswith(
        'LOGREG_MNIST_MIRRORS: https://***@host:port/ is not a valid URL')


def test_a_fifo_or_a_folder_in_a_file_mirror_is_skipped(tmp_path, monkeypatch,
                                                        servers, only_local,
                                                        small_pkl, capsys):
    fifo, folder = tmp_path / 'fifo', tmp_path / 'folder'
    fifo.mkdir()
    os.mkfifo(fifo / 'mnist.pkl.gz')
    (folder / 'mnist.pkl.gz').mkdir(parents=True)
    mirrors(monkeypatch, fifo.as_uri(), folder.as_uri(),
            servers({'mnist.pkl.gz': small_pkl}).url)
    data = tmp_path / 'data'
    done = []
    fetching = threading.Thread(
        target=lambda: done.append(download.fetch_mnist(str(data))),
        daemon=True)
    fetching.start()
    fetching.join(30)
    if fetching.is_alive():   # stuck opening the FIFO: let it go on
        os.close(os.open(fifo / 'mnist.pkl.gz', os.O_WRONLY | os.O_NONBLOCK))
        fetching.join(30)
        pytest.fail('a FIFO in a mirror folder held the download')
    assert done == [str(data / 'mnist.pkl.gz')]
    assert (data / 'mnist.pkl.gz').read_bytes() == small_pkl


#: Passwords that urllib splits: at a '#', '/' or '?', unencoded, the URL's
#: host part ends (and the rest is a fragment, a path or a query), and at a
#: ',' or a space $LOGREG_MNIST_MIRRORS would be split.  Each piece is
#: distinctive, so that no piece of one shows either.
SPLIT_PASSWORDS = ['Qz81#Wv52', '48213#Wv52', 'Qz81/Wv52', '48213/Wv52',
                   'Qz81?Wv52', 'Qz81,Wv52', 'Qz81 Wv52', 'Qz81@Wv52',
                   'Qz81%23Wv52']


def pieces(password):
    """The password, percent-decoded too, and the parts urllib may cut
    it into."""
    import re
    import urllib.parse
    decoded = urllib.parse.unquote(password)
    return {password, decoded} | set(re.split(r'[#/?, @]', decoded))


@pytest.mark.parametrize('password', SPLIT_PASSWORDS)
@pytest.mark.parametrize('shape', ['https://alice:%s@127.0.0.1:9/m/',
                                   'ftp://alice:%s@127.0.0.1:9/',
                                   'http://%s@127.0.0.1:9/m'])
def test_a_password_urllib_splits_is_never_shown(tmp_path, monkeypatch,
                                                 only_local, capsys,
                                                 password, shape):
    mirrors(monkeypatch, shape % password)
    with pytest.raises(DataError) as e:
        download.fetch_mnist(str(tmp_path))
    out, err = capsys.readouterr()
    for piece in pieces(password):
        assert piece not in str(e.value) + out + err, (piece, str(e.value))
    assert '://***@127.0.0.1:9/' in str(e.value)


def test_a_password_urllib_splits_stays_out_of_a_command(tmp_path):
    """The report's case: ``plot samples`` asked for MNIST, with a mirror
    whose password holds a '#'."""
    from helpers import run_module
    for password in ('s3cr#t99', '48213#Wv52', '48213/Wv52'):
        out = run_module(
            'plot', 'samples', cwd=tmp_path, timeout=300, env={
                'LOGREG_MNIST_DATA': str(tmp_path / 'data'),
                download.MIRRORS_VARIABLE:
                    'https://alice:%s@127.0.0.1:9/m/' % password})
        said = out.stdout + out.stderr
        assert out.returncode == 1 and 'https://***@127.0.0.1:9/m/' in said
        for piece in pieces(password):
            assert piece not in said, (piece, said)


@pytest.mark.parametrize('url, shown', [
    ('https://alice:s3cr#t99@127.0.0.1:9/m/', 'https://***@127.0.0.1:9/m/'),
    ('https://alice:a/b?c#d@host/m/x.gz', 'https://***@host/m/x.gz'),
    ('ftp://to@k@en@host/', 'ftp://***@host/'),
    ('http://tok%40en@host/', 'http://***@host/'),
    ('https://host/m/', 'https://host/m/'),
    ('file:///srv/a@b/', 'file:///srv/a@b/'),   # no host: nothing to hide
])
def test_shown_hides_all_up_to_the_last_at(url, shown):
    assert download.shown(url) == shown


def test_a_problem_hides_what_urllib_made_of_a_password():
    url = 'https://alice:48213#Wv52@127.0.0.1:9/m/mnist.pkl.gz'
    said = download._problem(url, ValueError(
        "nonnumeric port: '48213' of alice:48213, fragment Wv52@127.0.0.1"))
    for piece in pieces('48213#Wv52'):
        assert piece not in said, said
    assert said.startswith('https://***@127.0.0.1:9/m/mnist.pkl.gz (')


def test_a_password_may_hold_spaces_and_commas(monkeypatch):
    mirrors(monkeypatch, 'https://alice:p,a ss@h1/m/,https://h2/ file:///a@b')
    assert download.user_mirrors() == ['https://alice:p,a ss@h1/m/',
                                       'https://h2/', 'file:///a@b/']


def test_a_malformed_mirror_hides_a_password_in_its_netloc(tmp_path,
                                                           monkeypatch):
    """urllib's own complaint repeats the host part, password and all."""
    mirrors(monkeypatch, 'https://alice:Qz81\uff03Wv52@host/m/')
    with pytest.raises(DataError) as e:
        download.fetch_mnist(str(tmp_path))
    assert 'Qz81' not in str(e.value) and 'Wv52' not in str(e.value)
    assert str(e.value).startswith('LOGREG_MNIST_MIRRORS: https://***@host'
                                   '/m/ is not a valid URL')
