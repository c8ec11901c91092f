"""The workflow's side of cwtest: the code that runs in the workflow's process (the child).

The parent execs ``<env python> -I -B <this directory>/__main__.py CONFIG``; the entry loads this
package under a private name and runs ``main``. Modules, each with one job:

``protocol``  the messages between parent and child, declared once (both sides import it)
``channel``   the child's end of the event socket: send a message, report an attempt once per place
``confine``   rlimits, Landlock and seccomp from inside a process; the launcher for other commands
``audit``     the audit hook and its two guards: what the workflow attempts, and where
``outbound``  httpx routed (runtime -> simulator, the rest mocked or 599), relays, the runtime's name
``stacks``    the workflow's frames, locations, exception reports, thread and task stacks
``serve``     import the workflow, find its app, serve it with uvicorn
``main``      the order of all of this

Standard library only, and Python 3.8+: it runs on the workflow's interpreter, beside the
workflow's own packages. The parent imports ``protocol``, ``stacks``, ``outbound``, ``serve`` and
``confine`` as ``cwtest.harness.child.*`` (the in-process fuzz target shares the same code). This
file imports nothing.
"""
