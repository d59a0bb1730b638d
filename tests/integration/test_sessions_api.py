#!/usr/bin/python3
"""Sessions by API (issue 17; docs/admin-api.md) against the real binary: ending a TURN allocation,
listing SFU rooms and removing a participant through the admin API, with the admin token.

  end_allocation   an allocation made with the STUN/TURN client (stunclient.py) is listed; DELETE
                   /api/v1/allocations/{id} answers its record with end_reason admin; it is gone from
                   the list, the log has its allocation_ended record with end_reason admin, and a
                   Refresh and a ChannelBind on it fail with 437 as for an expired allocation
  allocation_ids   an unknown id is 404, a malformed one 400, another method 405; nothing ends
  tags             allocations with TURN REST usernames carrying tags (';site=ward-5;device=cart'):
                   ?tag.site=ward-5 lists one with those tags, ?tag.site=other-ward none, two tag
                   filters must both match; one without a site tag gets the site of its address
                   (127.0.0.0/24, no sites: configured); a malformed tag part is a 401; the
                   allocation_ended record carries the tags; turnpike_allocations_by_quality
                   has a series with site="ward-5"
  token            without the token (or with a wrong one) every sessions endpoint is 401 and
                   nothing changes
  rooms            two headless Chromium participants in one room (the demo page, as test_sfu.py):
                   GET /api/v1/rooms shows the room with 2; GET /api/v1/rooms/{id} both with their
                   identity, id, path (direct) and residency region (127.0.0.0/8 is eu-west-1)
  remove           DELETE /api/v1/rooms/{id}/participants/{pid}: gone from the room's list, the
                   other page sees it leave, the removed page gets the `removed` error; an unknown
                   participant or room is 404

Run: python3 test_sessions_api.py [--bin PATH]
"""

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True   # keep the source tree clean

import pkgroot  # noqa: F401  (puts tests/ on sys.path: the test modules import as `integration`)

from integration.harness import wait_for  # noqa: E402
from integration import harness  # noqa: E402
from integration import metrics  # noqa: E402
from integration import stunclient  # noqa: E402
from integration.browser import Browser  # noqa: E402
from integration.harness import TOKEN_KEY  # noqa: E402

ADMIN_TOKEN = 'sessions-admin-token-0123456789'
REGION = 'eu-west-1'
ROOM = 'ward 7/icu'   # a space and a slash: the path escapes them
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def node_config():
    cfg = harness.default_config()
    port = cfg['listen'][0]['port']
    cfg['region'] = REGION
    cfg['admin']['token'] = ADMIN_TOKEN
    cfg['regions'] = {REGION: {'networks': ['127.0.0.0/8'], 'turn_urls': [f'turn:127.0.0.1:{port}']}}
    cfg['residency'] = {'client_regions': [REGION], 'peer_regions': [REGION]}
    cfg['sfu'] = {'signal_listen': f'127.0.0.1:{harness.free_port("tcp")}',
                  'media_listen': f'127.0.0.1:{harness.free_port("udp")}',
                  'token_keys': [TOKEN_KEY]}
    return cfg


def api(srv, method, path, token=ADMIN_TOKEN):
    """(status, parsed JSON body) of one admin API request."""
    req = urllib.request.Request(srv.admin_url + path, method=method)
    if token is not None:
        req.add_header('Authorization', f'Bearer {token}')
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body else None


def room_path(room, pid=None):
    out = '/api/v1/rooms/' + urllib.parse.quote(room, safe='')
    return out + f'/participants/{urllib.parse.quote(pid, safe="")}' if pid else out


def ids_of(srv):
    status, body = api(srv, 'GET', f'/api/v1/allocations?user={harness.USER}')
    assert status == 200, f'list: {status} {body}'
    return [a['id'] for a in body['allocations']]


def check_end_allocation(srv):
    with stunclient.TurnClient(srv.turn_addr) as c, stunclient.TurnClient(srv.turn_addr) as other:
        r = c.allocate(harness.USER, harness.PASSWORD)
        assert r.is_success, f'allocate: {r.describe()}'
        r = other.allocate(harness.USER, harness.PASSWORD)
        assert r.is_success, f'allocate (the other): {r.describe()}'
        ids = ids_of(srv)
        assert len(ids) == 2, f'listed {ids}'
        # Which id is c's: its client port in the record.
        _, listed = api(srv, 'GET', f'/api/v1/allocations?user={harness.USER}')
        mine = [a['id'] for a in listed['allocations'] if a['client'].endswith(f':{c.local_addr[1]}')]
        assert len(mine) == 1, f'no record with client port {c.local_addr[1]}: {listed}'
        aid = mine[0]
        status, rec = api(srv, 'DELETE', f'/api/v1/allocations/{aid}')
        assert status == 200, f'DELETE: {status} {rec}'
        assert rec['id'] == aid and rec['end_reason'] == 'admin', f'DELETE answered {rec}'
        assert ids_of(srv) == [i for i in ids if i != aid], 'still listed after DELETE'
        status, _ = api(srv, 'GET', f'/api/v1/allocations/{aid}')
        assert status == 404, f'GET after DELETE: {status}'
        ended = wait_for('allocation_ended with end_reason admin', lambda: [
            e for e in srv.log_events('allocation_ended')
            if e.get('end_reason') == 'admin' and e.get('allocation', {}).get('id') == aid], 5)
        assert len(ended) == 1, f'{len(ended)} records'
        r = c.refresh(600)
        assert r.is_error and r.error_code == 437, f'Refresh after DELETE: {r.describe()}'
        r = c.channel_bind(0x4000, ('127.0.0.1', 9))
        assert r.is_error and r.error_code == 437, f'ChannelBind after DELETE: {r.describe()}'
        r = other.refresh(600)
        assert r.is_success, f'the other allocation was disturbed: {r.describe()}'
        return f'id {aid} ended (record end_reason admin, logged); Refresh and ChannelBind 437; the other lives on'


def listed(srv, query):
    status, body = api(srv, 'GET', '/api/v1/allocations?' + query)
    assert status == 200, f'GET ?{query}: {status} {body}'
    return body['allocations']


def check_tags(srv):
    tagged, tagged_pw = stunclient.rest_credentials(harness.REST_SECRET, 'cart-7;site=ward-5;device=cart', ttl=600)
    plain, plain_pw = stunclient.rest_credentials(harness.REST_SECRET, 'cart-8;device=cart', ttl=600)
    bad, bad_pw = stunclient.rest_credentials(harness.REST_SECRET, 'cart-9;site=a;site=b', ttl=600)
    with stunclient.TurnClient(srv.turn_addr) as c, stunclient.TurnClient(srv.turn_addr) as d, \
            stunclient.TurnClient(srv.turn_addr) as refused:
        r = c.allocate(tagged, tagged_pw)
        assert r.is_success, f'allocate with tags: {r.describe()}'
        r = d.allocate(plain, plain_pw)
        assert r.is_success, f'allocate with a tag but no site: {r.describe()}'
        r = refused.allocate(bad, bad_pw)
        assert r.is_error and r.error_code == 401, f'a repeated tag key: {r.describe()}'
        ward5 = listed(srv, 'tag.site=ward-5')
        assert len(ward5) == 1 and ward5[0]['user'] == 'cart-7', f'?tag.site=ward-5: {ward5}'
        assert ward5[0]['tags'] == {'site': 'ward-5', 'device': 'cart'}, f'tags: {ward5[0]["tags"]}'
        assert ward5[0]['username'] == tagged, ward5[0]['username']
        assert listed(srv, 'tag.site=other-ward') == [], 'another site matched'
        carts = listed(srv, 'tag.device=cart')
        assert sorted(a['user'] for a in carts) == ['cart-7', 'cart-8'], f'?tag.device=cart: {carts}'
        other = [a for a in carts if a['user'] == 'cart-8'][0]
        assert other['tags'] == {'device': 'cart', 'site': '127.0.0.0/24'}, f'site by address: {other["tags"]}'
        assert [a['user'] for a in listed(srv, 'tag.device=cart&tag.site=ward-5')] == ['cart-7']
        assert listed(srv, 'tag.device=cart&user=cart-8&tag.site=ward-5') == []
        text = metrics.scrape(srv)   # metrics.tag_labels (default [site]) label the quality metrics
        n = metrics.metric(text, 'turnpike_allocations_by_quality', site='ward-5', verdict='no_media')
        assert n == 1, f'turnpike_allocations_by_quality{{site="ward-5",verdict="no_media"}}: {n}'
        assert (metrics.metric(text, 'turnpike_allocations_by_quality', site='127.0.0.0/24') or 0) >= 1, \
            'no quality series for the site by address'
        status, body = api(srv, 'GET', '/api/v1/allocations?tag.=x')
        assert status == 400 and 'error' in body, f'?tag.=x: {status} {body}'
        aid = ward5[0]['id']
        r = c.refresh(0)
        assert r.is_success, f'Refresh 0: {r.describe()}'
        ended = wait_for('allocation_ended with the tags', lambda: [
            e for e in srv.log_events('allocation_ended') if e.get('allocation', {}).get('id') == aid], 5)
        assert ended[0]['allocation']['tags'] == {'site': 'ward-5', 'device': 'cart'}, ended[0]['allocation']
        r = d.refresh(0)
        assert r.is_success, f'Refresh 0: {r.describe()}'
    return ('?tag.site=ward-5 lists the tagged one with its tags, ?tag.site=other-ward none; the untagged '
            'site is 127.0.0.0/24; a repeated key 401; the end record has the tags; '
            'turnpike_allocations_by_quality{site="ward-5"} 1')


def check_allocation_ids(srv):
    before = ids_of(srv)
    cases = [('DELETE', '/api/v1/allocations/12345', 404), ('DELETE', f'/api/v1/allocations/{99 << 48}', 404),
             ('DELETE', '/api/v1/allocations/abc', 400), ('DELETE', '/api/v1/allocations/-1', 400),
             ('DELETE', '/api/v1/allocations/1%200', 400), ('POST', '/api/v1/allocations/1', 405),
             ('PUT', '/api/v1/rooms', 405)]
    for method, path, want in cases:
        status, body = api(srv, method, path)
        assert status == want, f'{method} {path}: {status} {body}, want {want}'
        assert 'error' in body, f'{method} {path}: no error message: {body}'
    assert ids_of(srv) == before, 'a bad request changed the allocations'
    return '; '.join(f'{m} {p.rsplit("/", 1)[1]} {w}' for m, p, w in cases)


def check_token(srv):
    before = ids_of(srv)
    for method, path in [('DELETE', f'/api/v1/allocations/{before[0]}'), ('GET', '/api/v1/rooms'),
                         ('GET', room_path(ROOM)), ('DELETE', room_path(ROOM, 'abc'))]:
        for token in (None, 'wrong'):
            status, _ = api(srv, method, path, token=token)
            assert status == 401, f'{method} {path} with token {token!r}: {status}'
    assert ids_of(srv) == before, 'an unauthorized DELETE ended an allocation'
    return 'every sessions endpoint 401 without or with a wrong token; nothing ended'


def token_for(srv, identity):
    out = subprocess.run([str(srv.binary), 'token', '--config', str(srv.config_path), '--room', ROOM,
                          '--identity', identity, '--ttl', '600'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20, text=True)
    assert out.returncode == 0, f'turnpike token failed: {out.stderr}'
    return json.loads(out.stdout)['token']


def page(drv):
    return drv.execute_script('''
      const d = window.turnpikeDemo || {};
      return {joined: !!d.joined, error: d.error || null, self: d.room ? d.room.participantId : null,
              others: d.room ? [...d.room.participants.keys()] : []};''')


def check_rooms(srv, cfg, browsers, ids):
    base = f'http://{cfg["sfu"]["signal_listen"]}'
    frag = urllib.parse.quote  # the demo reads the token from the fragment
    for name in ('nurse', 'doctor'):
        browsers[name] = Browser(f'sessions-{name}', [])
        browsers[name].drv.get(f'{base}/demo/?w=320&h=240&fps=15#token={frag(token_for(srv, name))}')
    for name, b in browsers.items():
        st = wait_for(f'{name} joins', lambda b=b: (lambda s: s if s['joined'] or s['error'] else None)(page(b.drv)), 30)
        assert not st['error'], f'{name} could not join: {st["error"]}'
        ids[name] = st['self']
    status, listed = api(srv, 'GET', '/api/v1/rooms')
    assert status == 200, f'GET rooms: {status} {listed}'
    assert listed['rooms'] == [{'id': ROOM, 'participants': 2}] and listed['truncated'] is False, f'rooms: {listed}'

    def both_connected():
        s, body = api(srv, 'GET', room_path(ROOM))
        assert s == 200, f'GET room: {s} {body}'
        ps = body['participants']
        return body if len(ps) == 2 and all(p['path'] and p['region'] for p in ps) else None
    body = wait_for('both participants with a path and a region', both_connected, 30)
    by_identity = {p['identity']: p for p in body['participants']}
    assert set(by_identity) == {'nurse', 'doctor'}, body
    for name, p in by_identity.items():
        assert p['id'] == ids[name], f'{name}: id {p["id"]}, the page says {ids[name]}'
        assert p['path'] == 'direct' and p['region'] == REGION, f'{name}: {p}'
        assert p['connected'] is True and p['joined_at'].endswith('Z'), f'{name}: {p}'
    wait_for('media counted both ways', lambda: all(
        p['bytes_in'] > 0 and p['bytes_out'] > 0 for p in api(srv, 'GET', room_path(ROOM))[1]['participants']), 20)
    joins = {r.get('participant'): r for r in log_events(srv, 'sfu_join')}
    for name in ('nurse', 'doctor'):
        r = joins.get(ids[name])
        assert r and r['room'] == ROOM and r['identity'] == name and r.get('client'), f'sfu_join of {name}: {joins}'
    return f'room {ROOM!r} with 2 (two sfu_join lines); ' + '; '.join(f'{n} {p["id"]} {p["path"]} {p["region"]}' for n, p in by_identity.items())


def log_events(srv, event):
    """The server's JSON log lines of one event (docs/logs.md)."""
    out = []
    for line in srv.log_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get('event') == event or rec.get('msg') == event:
            out.append(rec)
    return out


def check_remove(srv, browsers, ids):
    gone = ids['doctor']
    status, body = api(srv, 'DELETE', room_path(ROOM, gone))
    assert status == 200 and body['removed']['id'] == gone and body['removed']['identity'] == 'doctor', \
        f'DELETE participant: {status} {body}'
    status, room = api(srv, 'GET', room_path(ROOM))
    assert status == 200 and [p['id'] for p in room['participants']] == [ids['nurse']], f'after DELETE: {room}'
    t0 = time.monotonic()
    wait_for('the nurse sees the doctor leave', lambda: gone not in page(browsers['nurse'].drv)['others'], 10, 0.2)
    secs = time.monotonic() - t0
    err = wait_for('the doctor is told', lambda: page(browsers['doctor'].drv)['error'], 10, 0.2)
    assert err.get('code') == 'removed', f'the removed page saw {err}'
    status, _ = api(srv, 'DELETE', room_path(ROOM, gone))
    assert status == 404, f'DELETE again: {status}'
    status, _ = api(srv, 'DELETE', room_path('no-such-room', ids['nurse']))
    assert status == 404, f'DELETE in an unknown room: {status}'
    status, _ = api(srv, 'GET', room_path('no-such-room'))
    assert status == 404, f'GET an unknown room: {status}'
    assert page(browsers['nurse'].drv)['error'] is None, 'the nurse was disturbed'
    leaves = wait_for('an sfu_leave line for the removed participant',
                      lambda: [r for r in log_events(srv, 'sfu_leave') if r.get('participant') == gone], 5, 0.2)
    assert len(leaves) == 1 and leaves[0]['room'] == ROOM and leaves[0]['identity'] == 'doctor', f'sfu_leave: {leaves}'
    return f'removed (sfu_leave code {leaves[0].get("code")}); the other page saw it leave within {secs:.1f}s; the removed page got `removed`; again 404'


def main():
    ap = harness.common_argparser(__doc__.splitlines()[0])
    args = ap.parse_args()
    tr = harness.TestRunner('sessions_api')
    t0 = time.monotonic()
    browsers, ids = {}, {}
    try:
        cfg = node_config()
        with harness.Turnpike(cfg, binary=args.bin, name='turnpike-sessions') as srv:
            tr.run('end_allocation', check_end_allocation, srv)
            tr.run('allocation_ids', check_allocation_ids, srv)
            tr.run('token', check_token, srv)
            tr.run('tags', check_tags, srv)
            if shutil.which('chromium') or shutil.which('/usr/bin/chromium'):
                tr.run('rooms', check_rooms, srv, cfg, browsers, ids)
                tr.run('remove', check_remove, srv, browsers, ids)
            else:
                tr.fail('rooms', 'chromium is not installed')
            srv.check_alive()
    except harness.ServerError as e:
        tr.fail('server', str(e))
    finally:
        for b in browsers.values():
            b.close()
    print(f'(total {time.monotonic() - t0:.1f}s)', flush=True)
    return tr.finish()


if __name__ == '__main__':
    sys.exit(main())
