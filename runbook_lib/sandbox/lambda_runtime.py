"""Lambda runtime for the sandbox (placeholder: being written)."""


def install() -> None:
    pass


class LambdaRuntime:
    def __init__(self, endpoint_url: str, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.region = region

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def reset(self) -> None:
        pass
