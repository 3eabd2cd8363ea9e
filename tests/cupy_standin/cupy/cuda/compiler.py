"""cupy.cuda.compiler: the error a source that does not compile raises."""


class CompileException(Exception):
    def __init__(self, msg, source, name, options, backend='nvrtc'):
        self._msg, self.source, self.name, self.options, self.backend = msg, source, name, options, backend
        super().__init__(msg)

    def get_message(self):
        return self._msg
