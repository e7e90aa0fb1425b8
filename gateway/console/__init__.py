"""The web console: server-rendered pages for DPOs, school attendance officers and DfE statisticians.

`gateway.console.routes.router` is mounted by `gateway.main.create_app` under /console/.
"""
