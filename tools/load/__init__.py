"""`make load`: a bounded load with faults against a local stack of its own, and what held.

    python -m tools.load                          # 3 minutes, 40 users, 8 client threads
    python -m tools.load --seconds 30 --users 12  # the short version the test suite runs

The tool starts the local stack (tests/stack_runner.py, an ephemeral state directory, loopback
only), signs up users through the API, lays a follow graph and posts real photos (JPEGs made
with Pillow, uploaded to the presigned POST as a browser sends them), then runs a mix shaped
like the seeds' traffic for the set time: mostly feed pages (following cursors), then post
views, likes and unlikes, comments, follows and unfollows, searches, profiles, and a few new
posts with uploads and deletions. During it (devstack/faults.py for the in-process ones):

1. the Redis server is killed (SIGKILL) and started again on its port with its settings, empty;
2. the media worker is killed mid-batch (its batch acknowledged nothing and comes back);
3. SQS batches are delivered twice, with a probability, for the whole run;
4. a poison upload: a post whose upload is announced to the media queue but never stored (the
   worker fails on it every time): it must reach MediaDeadLetterQueue, whose consumer rejects
   the post; and a poison fan-out message (a type no worker knows), which must stay in
   FanoutDeadLetterQueue and set off its alarm.

Then it waits for the system to settle and checks: no 5xx outside the Redis-down window and
none on the feed inside it; every post published, rejected or deleted; every user's feed, all
pages, equal to what DynamoDB says; every counter exact; the dead letters where they belong and
the alarms they raise. It prints requests, errors, p50 and p99 per route, and a verdict (exit
status 1 on any FAIL).
"""
