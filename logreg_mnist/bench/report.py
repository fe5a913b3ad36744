"""The benchmark's results for a reader: the ratio of each run to the port,
each CPU run's share of the machine's limit, and the runs as a text table
(``table``, ``print_report``) or as Markdown (``markdown``).  Both tables
are drawn from ``COLUMNS``, where each column is declared once."""
import collections

from .limit import (ITEMSIZE, epoch_bytes, epoch_floor, epoch_flops,
                    percent_of_limit)
from .measure import CONFIGS

#: A column of the runs' tables: its header, whether it holds numbers
#: (set to the right) or text, and its cell for a timed row; ``detailed``,
#: where given, is the cell where there is room for more (in Markdown).
Column = collections.namedtuple('Column', 'header numeric cell detailed',
                                defaults=(None,))


def rate(epochs_per_sec):
    return '%.2f' % epochs_per_sec


def times(ratio):
    return '%.2fx' % ratio


def _if_known(key, text):
    """A cell: ``text`` of the row's ``key``, empty where it has none."""
    return lambda row: text(row[key]) if key in row else ''


def _device_named(row):
    """The device, with the GPU's name where there is one."""
    info = row['info']
    return info['device'] + (' (%s)' % info['device_name']
                             if info.get('device_name') else '')


COLUMNS = [
    Column('run', False, lambda r: r['config']),
    Column('library', False, lambda r: r['info']['library']),
    Column('device', False, lambda r: r['info']['device'], _device_named),
    Column('floatX', False, lambda r: r['info']['floatX']),
    Column('compile s', True, lambda r: '%.2f' % r['compile']),
    Column('first epoch s', True, lambda r: '%.3f' % r['first']),
    Column('epochs/sec', True, lambda r: rate(r['epochs_per_sec'])),
    Column('port is', True, _if_known('port_speedup', times)),
    Column('floor ms', True, _if_known('floor_ms', lambda x: '%.2f' % x)),
    Column('% of limit', True,
           _if_known('percent_of_limit', lambda x: '%.1f' % x)),
]


def add_ratios(rows):
    """port_speedup: the epochs/sec of the port on the same device ('cpu'
    or 'cuda') at the same floatX over this row's (1.00x for the port
    itself; above 1 the port is faster)."""
    timed = {r['config']: r for r in rows if 'error' not in r}
    for name, r in timed.items():
        kind, where, floatx, _ = CONFIGS[name]
        port = timed.get('port-%s-%s' % (where, floatx))
        if port is not None:
            r['port_speedup'] = port['epochs_per_sec'] / r['epochs_per_sec']


def add_floors(rows, limit, n_train, n_valid):
    """floor_ms and percent_of_limit of each timed row on the CPU: the
    shortest its epoch of ``n_train`` + ``n_valid`` images could take at
    ``limit`` (see limit.py), and that floor as a percentage of its epoch
    time.  A GPU's runs get none: the limit is the CPU's.  Returns the
    epoch: its images, operations, bytes and floor by floatX (no floor
    where the limit is not known)."""
    epoch = {'images': [n_train, n_valid],
             'flops': epoch_flops(n_train, n_valid),
             'bytes': {f: epoch_bytes(n_train, n_valid, f) for f in ITEMSIZE},
             'floor_ms': {}}
    if 'error' in limit:
        return epoch
    floors = epoch['floor_ms'] = {
        f: 1000 * epoch_floor(limit, n_train, n_valid, f) for f in ITEMSIZE}
    for r in rows:
        if ('error' in r or r['info']['device'] != 'cpu'
                or r['info']['floatX'] not in floors):
            continue
        r['floor_ms'] = floors[r['info']['floatX']]
        r['percent_of_limit'] = percent_of_limit(r['floor_ms'] / 1000,
                                                 r['epochs_per_sec'])
    return epoch


def limit_line(result):
    """The machine's limit and the epoch's floor, in one line."""
    limit = result['limit']
    if 'error' in limit:
        return 'limit: not measured (%s)' % limit['error']
    threads = '%d thread%s' % (limit['threads'],
                               's' if limit['threads'] != 1 else '')
    if not limit['openmp']:
        threads += ': %s has no OpenMP' % limit['compiler']
    return ('limit: %s (%d-bit vectors, %s), reads %.1f GB/s%s; epoch floor '
            '%s' % (', '.join('%s %.0f GFLOP/s' % (f, limit['gflops'][f])
                              for f in ITEMSIZE),
                    limit['vector_bits'], threads, limit['read_gbs'],
                    '' if limit['load'] is None else
                    ' (load %.2f)' % limit['load'],
                    ', '.join('%s %.2f ms' % (f, ms) for f, ms in
                              result['epoch']['floor_ms'].items())))


def environment(row, gpu):
    """A timed row's Python, its GPU's name (if ``gpu`` and it has one)
    and its BLAS."""
    info = row['info']
    return 'Python %s; %sBLAS: %s' % (
        info['python'], 'GPU: %s; ' % info['device_name']
        if gpu and info.get('device_name') else '', info['blas'])


########
# TEXT #
########

def table(rows):
    """The comparison table, as text."""
    head = [c.header for c in COLUMNS]
    body = [[c.cell(r) for c in COLUMNS] for r in rows if 'error' not in r]
    widths = [max(len(line[i]) for line in [head] + body)
              for i in range(len(head))]

    def fmt(line):  # text columns to the left, numbers to the right
        return '  '.join(c.rjust(w) if column.numeric else c.ljust(w)
                         for c, w, column in zip(line, widths, COLUMNS))
    out = [fmt(head), fmt(['-' * w for w in widths])] + [fmt(l) for l in body]
    out += ['%-*s  unavailable: %s' % (widths[0], r['config'], r['error'])
            for r in rows if 'error' in r]
    return '\n'.join(out)


def print_report(result):
    """The results as text: what ran where, the table, then each run's
    Python and BLAS."""
    rows = result['runs']
    s = result['system']
    print('%s, %d cores; Python %s, numpy %s; data: %s; batch %d; median of '
          '%d epochs per run' % (s['cpu'], s['cores'], s['python'], s['numpy'],
                                 result['data'], result['batch_size'],
                                 result['timed_epochs']))
    print(limit_line(result))
    print()
    print(table(rows))
    print()
    width = max(len(r['config']) for r in rows)
    for r in rows:
        if 'error' not in r:
            print('%-*s  %s' % (width, r['config'], environment(r, gpu=True)))


############
# MARKDOWN #
############

def md_row(cells):
    return '| %s |' % ' | '.join(cells)


def md_rule(numeric):
    """The line under a Markdown header: numbers set to the right."""
    return '|' + ''.join('---:|' if n else '---|' for n in numeric)


def markdown(result):
    """The results as Markdown: the port's epochs/sec on the CPU and the
    GPU in both precisions, then every run, then what it ran on."""
    timed = {r['config']: r for r in result['runs'] if 'error' not in r}
    gpus = sorted({r['info']['device_name'] for r in timed.values()
                   if r['info'].get('device_name')})
    s = result['system']
    out = ['%s, %d cores; GPU: %s; Python %s, numpy %s. Data: %s; batch %d; '
           'epochs/sec is the median of %d timed epochs.' % (
               s['cpu'], s['cores'], ', '.join(gpus) or 'none',
               s['python'], s['numpy'], result['data'],
               result['batch_size'], result['timed_epochs']),
           '', limit_line(result) + '.',
           '', md_row(['the port, epochs/sec', 'CPU', 'GPU', 'GPU / CPU']),
           md_rule([False, True, True, True])]
    for floatx in ('float64', 'float32'):
        cpu, gpu = (timed.get('port-%s-%s' % (where, floatx))
                    for where in ('cpu', 'cuda'))
        out.append(md_row([
            floatx, rate(cpu['epochs_per_sec']) if cpu else '-',
            rate(gpu['epochs_per_sec']) if gpu else '-',
            times(gpu['epochs_per_sec'] / cpu['epochs_per_sec'])
            if cpu and gpu else '-']))
    out += ['', md_row(c.header for c in COLUMNS),
            md_rule(c.numeric for c in COLUMNS)]
    for r in result['runs']:
        if 'error' in r:   # the reason in the second cell, the rest empty
            out.append(md_row([r['config'], 'unavailable: %s' % (
                r['error'].replace('|', '\\|'))]) + ' |' * (len(COLUMNS) - 2))
        else:
            out.append(md_row((c.detailed or c.cell)(r) for c in COLUMNS))
    out += ['', '"port is": the port\'s epochs/sec on the same device '
            '(CPU or GPU) at the same floatX, over the run\'s. "floor ms": '
            'the shortest an epoch could take at the limit above; "% of '
            'limit": that floor over the run\'s epoch time (CPU runs only).',
            '']
    out += ['- %s: %s' % (r['config'], environment(r, gpu=False))
            for r in timed.values()]
    return '\n'.join(out)
