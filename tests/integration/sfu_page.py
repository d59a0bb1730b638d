"""The SFU demo page (/demo/, on /sdk/turnpike.js) as the tests drive it in headless Chromium
(test_sfu.py, test_monitoring.py): a join token from `turnpike token`, the page's state, and what
each participant decodes from the others.

    tok = token(srv, 'alice')['token']
    drv.get(f'http://{signal_listen}/demo/?relay=udp&w=320&h=240&fps=15#token={tok}')
    page_state(drv)['joined']; inbound_by_participant(page_state(drv))
"""

import json
import subprocess

ROOM = 'ward-5'


def token(srv, identity, ttl=600, extra=(), room=ROOM):
    """`turnpike token` for the server's config: {token, signal_url, ice_servers, ...}."""
    out = subprocess.run([str(srv.binary), 'token', '--config', str(srv.config_path), '--room', room,
                          '--identity', identity, '--ttl', str(ttl), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20, text=True)
    assert out.returncode == 0, f'turnpike token failed: {out.stderr}'
    return json.loads(out.stdout)


def page_state(drv):
    return drv.execute_script('''
      const d = window.turnpikeDemo || {};
      const tiles = [...document.querySelectorAll('.tile')].map(t => ({
        participant: t.dataset.participant, path: t.dataset.path || null,
        text: t.querySelector('.path') ? t.querySelector('.path').textContent : ''}));
      return {joined: !!d.joined, error: d.error || null, stats: d.stats || null, tiles,
              self: d.room ? d.room.participantId : null,
              others: d.room ? [...d.room.participants.keys()] : [],
              paths: d.paths || {}, status: document.getElementById('status').textContent};''')


def inbound_by_participant(state):
    """{participant id: {'video': framesDecoded, 'audio': packetsReceived}} from the page's stats."""
    out = {}
    stats = state.get('stats') or {}
    for r in stats.get('inbound', []):
        tid = r.get('trackId') or ''
        pid = tid.rsplit('-', 1)[0] if '-' in tid else None
        if not pid:
            continue
        d = out.setdefault(pid, {'video': 0, 'audio': 0})
        if r['kind'] == 'video':
            d['video'] = max(d['video'], r.get('framesDecoded') or 0)
        else:
            d['audio'] = max(d['audio'], r.get('packetsReceived') or 0)
    return out
