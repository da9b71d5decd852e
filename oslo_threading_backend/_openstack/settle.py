"""Imported first by every module of ours that imports futurist: settles the backend.

futurist (``futurist._utils``, ``futurist.waiters``) imports eventlet whenever
it is installed, as it is in every OpenStack virtualenv, which loads eventlet
and prints its EventletDeprecationWarning in a service that never uses it.
Importing this module selects the backend unless the application already did
(the default, threading, or what ``register_backend_default_hook`` says), so
in threading mode the eventlet block is in place before futurist is imported.
An application that wants the eventlet backend calls
``oslo_threading_backend.backend.init_backend('eventlet')`` before importing
``oslo_threading_backend.service`` or any other module of ours that runs
services.
"""

from oslo_threading_backend import backend

backend.settle_backend()
