from tests.integration.test_replies import *  # noqa

def test_probe(api):
    for method, path in (("GET", "/templates/tp-XYZ"), ("GET", "/replies/rp-123"), ("GET", "/replies/tp-0123456789abcdef"),
                         ("POST", "/replies/rp-XYZ/approve"), ("POST", "/templates/tp-1/approve"), ("GET", "/inbox/weibo:~NDk5/replies")):
        print(method, path, api.call(method, path, {"version": 1} if "templates" in path and method=="POST" else None, as_="approver:wang"))
